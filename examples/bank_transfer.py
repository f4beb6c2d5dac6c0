"""A check-then-act race between a bank transfer and a cash withdrawal, found by hypothesis.

Alice has 100. A transfer of 60 to Bob runs as a saga actor: it asks Alice's
account for her balance, and if it is enough, debits her and credits Bob.
At the same time Alice withdraws 60 in cash. In the natural order of
delivery the withdrawal lands first and the transfer sees a balance of 40;
but if the transfer's balance check overtakes the withdrawal, both succeed
and Alice ends at -20.

`SimulatedSystem` delivers every message under a `Schedule`; hypothesis
explores schedules, finds the overdraft, and shrinks it to a short trace.
The fixed saga asks the account to withdraw atomically instead.

Run it with ``python examples/bank_transfer.py`` (``--backend trio`` too).
"""

from __future__ import annotations

import argparse
from typing import Any

import anyio
import attrs
from hypothesis import find, settings

from actorlib import Actor, ActorRef
from actorlib.testing import Schedule, SimulatedSystem, schedules

# ---------------------------------------------------------------- messages


@attrs.frozen
class GetBalance:
    """Ask for the balance."""


@attrs.frozen
class Debit:
    """Take money out, no questions asked (the caller has checked)."""

    amount: int


@attrs.frozen
class Credit:
    """Put money in."""

    amount: int


@attrs.frozen
class Withdraw:
    """Take money out if there is enough; the reply says whether it happened."""

    amount: int


@attrs.frozen
class Transfer:
    """Move *amount* from *source* to *target*."""

    source: ActorRef[Any]
    target: ActorRef[Any]
    amount: int


# ---------------------------------------------------------------- actors


class Account(Actor):
    """A balance; `Withdraw` checks and debits in one message, so it is atomic."""

    def __init__(self, balance: int) -> None:
        self.balance = balance
        self.cash_out = 0

    async def receive(self, message: object) -> object:
        match message:
            case GetBalance():
                return self.balance
            case Debit(amount):
                self.balance -= amount
            case Credit(amount):
                self.balance += amount
            case Withdraw(amount):
                if self.balance < amount:
                    return False
                self.balance -= amount
                if self.context.sender is None:  # cash from the machine, not a transfer
                    self.cash_out += amount
                return True
            case "state":
                return (self.balance, self.cash_out)
        return None


class CheckThenDebit(Actor):
    """The buggy saga: the balance it checked may be stale by the time it debits."""

    def __init__(self, transfer: Transfer) -> None:
        self.transfer = transfer

    async def on_start(self) -> None:
        t = self.transfer
        if await t.source.ask(GetBalance()) >= t.amount:
            t.source.tell(Debit(t.amount))
            t.target.tell(Credit(t.amount))
        self.context.stop()

    async def receive(self, message: object) -> object:
        return None


class AtomicWithdraw(Actor):
    """The fixed saga: the account checks and debits in one step."""

    def __init__(self, transfer: Transfer) -> None:
        self.transfer = transfer

    async def on_start(self) -> None:
        t = self.transfer
        if await t.source.ask(Withdraw(t.amount)):
            t.target.tell(Credit(t.amount))
        self.context.stop()

    async def receive(self, message: object) -> object:
        return None


class Bank(Actor):
    """Runs each transfer as a child saga of the given class."""

    def __init__(self, saga: type[Actor]) -> None:
        self.saga = saga

    async def receive(self, message: object) -> object:
        if isinstance(message, Transfer):
            await self.context.spawn(self.saga, message)
        return None


# ---------------------------------------------------------------- the scenario


async def simulate(saga: type[Actor], schedule: Schedule) -> tuple[dict[str, int], str]:
    """Run the transfer and the withdrawal under *schedule*; return balances and trace."""
    async with SimulatedSystem("bank", schedule=schedule) as system:
        alice = await system.spawn(Account, 100, name="alice")
        bob = await system.spawn(Account, 0, name="bob")
        bank = await system.spawn(Bank, saga, name="bank")
        bank.tell(Transfer(alice, bob, 60))
        alice.tell(Withdraw(60))  # at the cash machine, at the same time
        await system.settle()
        alice_balance, cash = await alice.ask("state")
        bob_balance, _ = await bob.ask("state")
        trace = system.report()
    return {"alice": alice_balance, "bob": bob_balance, "cash": cash}, trace


def check(result: dict[str, int]) -> None:
    """The invariants: nobody is overdrawn, and no money is created or lost."""
    assert result["alice"] >= 0, f"alice is overdrawn: {result}"
    assert result["alice"] + result["bob"] + result["cash"] == 100, f"money leaked: {result}"


def holds(saga: type[Actor], schedule: Schedule, backend: str) -> bool:
    """Whether the invariants hold for one schedule (runs its own event loop)."""
    result, _ = anyio.run(simulate, saga, schedule, backend=backend)
    try:
        check(result)
    except AssertionError:
        return False
    return True


def main(backend: str) -> None:
    result, _ = anyio.run(simulate, CheckThenDebit, Schedule.fifo(), backend=backend)
    print(f"natural order, buggy saga: {result} (looks fine)")

    print("hypothesis explores schedules for the buggy saga...")
    failing = find(
        schedules(),
        lambda schedule: not holds(CheckThenDebit, schedule, backend),
        settings=settings(max_examples=200, database=None),
    )
    result, report = anyio.run(simulate, CheckThenDebit, failing, backend=backend)
    print(f"found and shrunk: {result}")
    print(report)

    print("the same search against the fixed saga...")
    try:
        find(
            schedules(),
            lambda schedule: not holds(AtomicWithdraw, schedule, backend),
            settings=settings(max_examples=200, database=None),
        )
    except Exception as error:  # hypothesis raises NoSuchExample: what we hope for
        print(f"  no failing schedule: {type(error).__name__}")
    else:
        raise SystemExit("the fixed saga failed a schedule")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    main(parser.parse_args().backend)
