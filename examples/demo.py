"""The main demo: a supervisor with workers, one crashes and is restarted, a counter is asked.

Run it with ``python examples/demo.py`` (add ``--backend trio`` for trio).
"""

from __future__ import annotations

import argparse
import logging

import actorlib
from actorlib import (
    Actor,
    ActorRef,
    ActorStopped,
    ActorSystem,
    Backoff,
    DeadLetter,
    OneForOne,
    PoisonPill,
    Terminated,
)


class Counter(Actor):
    """Counts the jobs done; answers ``"get"``."""

    def __init__(self, start: int = 0) -> None:
        self.count = start

    async def receive(self, message: object) -> object:
        match message:
            case "incr":
                self.count += 1
            case "get":
                return self.count
        return None


class Worker(Actor):
    """Squares numbers; a negative number makes it crash (let it crash)."""

    def __init__(self, counter: ActorRef[object]) -> None:
        self.counter = counter
        self.handled = 0

    async def on_start(self) -> None:
        print(f"  {self.ref.path} started")

    async def on_restart(self, error: BaseException) -> None:
        print(f"  {self.ref.path} restarted after {error!r} (fresh state)")

    async def on_stop(self) -> None:
        jobs = "job" if self.handled == 1 else "jobs"
        print(f"  {self.ref.path} stopped after {self.handled} {jobs}")

    async def receive(self, message: object) -> object:
        if not isinstance(message, int):
            raise TypeError(f"a worker squares ints, got {message!r}")
        if message < 0:
            raise ValueError(f"cannot work on {message}")
        self.handled += 1
        self.counter.tell("incr")
        return message * message


class Supervisor(Actor):
    """Starts the workers and hands out their refs; restarts a worker that crashes."""

    # Restart a crashed worker after a short, growing delay; give up after 3 in 10 s.
    supervisor_strategy = OneForOne(max_restarts=3, within=10.0, backoff=Backoff(min=0.01, max=0.5))

    def __init__(self, workers: int, counter: ActorRef[object]) -> None:
        self.size = workers
        self.counter = counter

    async def on_start(self) -> None:
        for i in range(self.size):
            await self.context.spawn(Worker, self.counter, name=f"worker-{i}")

    async def receive(self, message: object) -> object:
        match message:
            case "workers":
                return list(self.context.children)
            case Terminated(ref=ref, error=error):
                print(f"  supervisor: {ref.path} terminated (error={error!r})")
        return None


class DeadLetterLog(Actor):
    """Prints every dead letter published on the event stream."""

    async def receive(self, message: object) -> object:
        if isinstance(message, DeadLetter):
            target = message.recipient.path if message.recipient else "nobody"
            print(f"  dead letter: {message.message!r} to {target}")
        return None


class OneLineFormatter(logging.Formatter):
    """Log records without their tracebacks."""

    def formatException(self, ei: object) -> str:
        return ""

    def format(self, record: logging.LogRecord) -> str:
        return super().format(record).rstrip()


async def main() -> None:
    async with ActorSystem("demo") as system:
        dead_letters = await system.spawn(DeadLetterLog, name="dead-letters")
        system.events.subscribe(dead_letters, DeadLetter)

        print("starting a counter and a supervisor with 3 workers")
        counter = await system.spawn(Counter, 0, name="counter")
        supervisor = await system.spawn(Supervisor, 3, counter, name="supervisor")

        workers: list[ActorRef[object]] = await supervisor.ask("workers")

        async def square_all(numbers: range) -> list[int]:
            # Round-robin over the workers; each ask returns the handler's result.
            return [await workers[n % len(workers)].ask(n) for n in numbers]

        print("asking the workers for squares of 1..6")
        print(f"  squares: {await square_all(range(1, 7))}")

        print("sending a job that makes worker-0 crash")
        try:
            await workers[0].ask(-1)
        except ValueError as error:
            print(f"  the asker sees the worker's error: {error!r}")

        print("the supervisor restarted worker-0 (same ref, fresh state); more jobs:")
        print(f"  squares: {await square_all(range(7, 10))}")
        print(f"  jobs counted: {await counter.ask('get')}")

        print("the supervision tree:")
        print("  " + system.tree().replace("\n", "\n  "))

        print("a PoisonPill stops the counter after the messages before it")
        counter.tell("incr")
        counter.tell(PoisonPill())
        try:
            await counter.ask("get")  # queued behind the PoisonPill
        except ActorStopped as error:
            print(f"  an ask queued behind it fails at once: {error}")
        counter.tell("incr")  # to a stopped actor: a dead letter, never an exception

        print("shutting down: children stop before their parents")
    print("done")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    options = parser.parse_args()
    # Failures are logged to the "actorlib" logger, with tracebacks; the demo
    # shows one line per failure to stay readable.
    handler = logging.StreamHandler()
    handler.setFormatter(OneLineFormatter("  log: %(message)s"))
    logging.getLogger("actorlib").addHandler(handler)
    actorlib.run(main, backend=options.backend)
