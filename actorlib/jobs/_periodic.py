"""When the ticks of a periodic job fall (``every=`` or ``cron=``); knows nothing about queues.

A tick is a point in the store's clock (seconds; UTC epoch seconds for the
cron fields). `latest` is the last tick at or before a time, `next_after` the
first one after it. Every process sharing a store computes the same ticks
from the same schedule, which is what makes a tick's idempotency key
(``periodic:{name}:{tick}``) the same everywhere.

The cron parser is our own, on purpose: it reads exactly the five numeric
fields of POSIX/Vixie cron (``*``, ``a``, ``a-b``, lists, ``/step``; day of
week 0-7, both 0 and 7 meaning Sunday; when both day fields are restricted a
day matching either one matches, as in Vixie cron). That is ~100 lines
against a runtime dependency (croniter) for syntax we do not accept anyway
(names, ``L``, ``#``, seconds fields, ``@hourly``): those are refused with
an error that says what to write instead.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Callable

import attrs

from ._model import JobRecord

_UTC = datetime.UTC
_DAY = datetime.timedelta(days=1)
_MINUTE = datetime.timedelta(minutes=1)
# Long enough to reach any possible day: "29 2" with a weekday falls within 28 years.
_SEARCH_DAYS = 366 * 29

_FIELDS = (
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day of month", 1, 31),
    ("month", 1, 12),
    ("day of week", 0, 7),
)
_LONGEST_MONTH = {1: 31, 2: 29, 3: 31, 4: 30, 5: 31, 6: 30, 7: 31, 8: 31, 9: 30, 10: 31}
_LONGEST_MONTH |= {11: 30, 12: 31}


@attrs.frozen
class Every:
    """A tick every *period* seconds, at the multiples of the period."""

    period: float

    @property
    def description(self) -> str:
        return f"every {self.period:g} s"

    def latest(self, now: float) -> float:
        """The last tick at or before *now*."""
        return math.floor(now / self.period) * self.period

    def next_after(self, now: float) -> float:
        """The first tick after *now*."""
        return (math.floor(now / self.period) + 1) * self.period


@attrs.frozen
class Cron:
    """A tick at each minute (UTC) that the five fields of a cron expression match."""

    expression: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    any_day: bool  # the day-of-month field is "*"
    any_weekday: bool  # the day-of-week field is "*"

    @property
    def description(self) -> str:
        return f"cron {self.expression!r}"

    def _day_matches(self, day: datetime.date) -> bool:
        if day.month not in self.months:
            return False
        by_day = day.day in self.days
        by_weekday = (day.isoweekday() % 7) in self.weekdays
        if self.any_day or self.any_weekday:
            return by_day and by_weekday
        return by_day or by_weekday

    def latest(self, now: float) -> float:
        """The last matching minute at or before *now*."""
        moment = datetime.datetime.fromtimestamp(now, _UTC).replace(second=0, microsecond=0)
        day, hour, minute = moment.date(), moment.hour, moment.minute
        for _ in range(_SEARCH_DAYS):
            if self._day_matches(day):
                for h in sorted((h for h in self.hours if h <= hour), reverse=True):
                    found = [m for m in self.minutes if h < hour or m <= minute]
                    if found:
                        return _timestamp(day, h, max(found))
            day, hour, minute = day - _DAY, 23, 59
        raise AssertionError(f"{self.description} has no tick (checked when parsed)")

    def next_after(self, now: float) -> float:
        """The first matching minute after *now*."""
        moment = datetime.datetime.fromtimestamp(now, _UTC).replace(second=0, microsecond=0)
        moment += _MINUTE
        day, hour, minute = moment.date(), moment.hour, moment.minute
        for _ in range(_SEARCH_DAYS):
            if self._day_matches(day):
                for h in sorted(h for h in self.hours if h >= hour):
                    found = [m for m in self.minutes if h > hour or m >= minute]
                    if found:
                        return _timestamp(day, h, min(found))
            day, hour, minute = day + _DAY, 0, 0
        raise AssertionError(f"{self.description} has no tick (checked when parsed)")


def _timestamp(day: datetime.date, hour: int, minute: int) -> float:
    return datetime.datetime(day.year, day.month, day.day, hour, minute, tzinfo=_UTC).timestamp()


def parse_cron(expression: str) -> Cron:
    """Read a five-field cron expression.

    Raises:
        TypeError: *expression* is not a str.
        ValueError: not five fields, a field out of its range or malformed,
            or days that never occur (e.g. ``30 2``: February 30th).
    """
    if not isinstance(expression, str):
        raise TypeError(f"cron must be a str such as '*/5 * * * *', got {expression!r}")
    parts = expression.split()
    if len(parts) != 5:
        raise ValueError(
            f"cron must have 5 fields 'minute hour day-of-month month day-of-week', "
            f"e.g. '*/5 * * * *' (every 5 minutes), got {expression!r}"
        )
    values = [
        _field(part, what, low, high, expression)
        for part, (what, low, high) in zip(parts, _FIELDS, strict=True)
    ]
    weekdays = frozenset(d % 7 for d in values[4])
    cron = Cron(
        expression=expression,
        minutes=values[0],
        hours=values[1],
        days=values[2],
        months=values[3],
        weekdays=weekdays,
        any_day=parts[2] == "*",
        any_weekday=parts[4] == "*",
    )
    possible = any(day <= _LONGEST_MONTH[m] for m in cron.months for day in cron.days)
    if not possible and (cron.any_weekday or cron.any_day):
        raise ValueError(
            f"cron {expression!r} never fires: no month of its months has one of its days"
        )
    return cron


def _field(part: str, what: str, low: int, high: int, expression: str) -> frozenset[int]:
    chosen: set[int] = set()
    for item in part.split(","):
        span, _, step_text = item.partition("/")
        try:
            step = int(step_text) if step_text else 1
            if span == "*":
                first, last = low, high
            elif "-" in span:
                first_text, _, last_text = span.partition("-")
                first, last = int(first_text), int(last_text)
            else:
                first = int(span)
                last = high if step_text else first
        except ValueError:
            raise ValueError(
                f"cron {what} field {part!r} of {expression!r} must be numbers with *, -, / "
                f"and commas (names, L, W, # and @-shortcuts are not supported), "
                f"e.g. '*/15' or '1-5'"
            ) from None
        if not (low <= first <= last <= high) or step < 1:
            raise ValueError(
                f"cron {what} field {part!r} of {expression!r} must stay within {low}-{high} "
                f"with ranges low-high and a step >= 1"
            )
        chosen.update(range(first, last + 1, step))
    return frozenset(chosen)


def check_every(every: object) -> Every:
    """The schedule of ``every=`` (seconds or a timedelta).

    Raises:
        TypeError, ValueError: not a finite number of seconds > 0.
    """
    if isinstance(every, datetime.timedelta):
        every = every.total_seconds()
    if isinstance(every, bool) or not isinstance(every, int | float):
        raise TypeError(f"every must be a number of seconds or a timedelta, got {every!r}")
    if not math.isfinite(every) or every <= 0:
        raise ValueError(f"every must be a finite number of seconds > 0, got {every!r}")
    return Every(float(every))


def check_schedule(every: float | datetime.timedelta | None, cron: str | None) -> Every | Cron:
    """The schedule of ``periodic(every=...)`` or ``periodic(cron=...)``.

    Raises:
        ValueError: neither or both of *every* and *cron*, or a bad schedule.
    """
    if (every is None) == (cron is None):
        raise ValueError(
            "periodic() needs exactly one schedule: every=seconds (or a timedelta) or "
            "cron='*/5 * * * *'"
        )
    return check_every(every) if cron is None else parse_cron(cron)


def tick_key(name: str, tick: float) -> str:
    """The idempotency key of one tick: the same string in every process."""
    return f"periodic:{name}:{tick:.3f}"


Schedule = Every | Cron


@attrs.define(eq=False)
class PeriodicEntry:
    """A schedule registered with a queue: what a tick enqueues (internal)."""

    name: str
    schedule: Schedule
    # Makes the job of one tick from its idempotency key.
    make: Callable[[str], JobRecord]
    cancelled: bool = False


class PeriodicHandle:
    """What `JobQueue.periodic` returns: the schedule's name, and a way to stop it.

    The schedule also stops when its queue closes.
    """

    __slots__ = ("_entry", "_unregister")

    def __init__(self, entry: PeriodicEntry, unregister: Callable[[PeriodicEntry], None]) -> None:
        self._entry = entry
        self._unregister = unregister

    def __repr__(self) -> str:
        state = "cancelled" if self.cancelled else "active"
        return f"<PeriodicHandle {self.name!r} {self._entry.schedule.description} {state}>"

    @property
    def name(self) -> str:
        """The schedule's name, which keys its ticks in the store."""
        return self._entry.name

    @property
    def cancelled(self) -> bool:
        """True once `cancel` was called or the queue closed."""
        return self._entry.cancelled

    def cancel(self) -> None:
        """Enqueue no more ticks from this queue (jobs already enqueued still run).

        Idempotent. Queues of other processes running the same schedule go on.
        """
        if not self._entry.cancelled:
            self._entry.cancelled = True
            self._unregister(self._entry)
