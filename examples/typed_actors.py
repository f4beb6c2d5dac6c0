"""Typed actors: an account declares the messages it accepts and what its questions answer.

Run it with ``python examples/typed_actors.py`` (add ``--backend trio`` for
trio), and run ``mypy --strict examples/typed_actors.py``: no annotation on a
ref, yet every message and every reply below is checked. Lines such as
``account.tell("deposit 5")``, ``note: str = await account.ask(Balance())``
or ``await system.spawn(Account, "100")`` would be mypy errors.
"""

from __future__ import annotations

import argparse

import attrs

import actorlib
from actorlib import Actor, ActorRef, ActorSystem, Request


@attrs.frozen
class Deposit:
    """Add *amount* to the balance (a tell: no reply)."""

    amount: int


@attrs.frozen
class Withdraw(Request[bool]):
    """Take *amount* if the balance covers it; the reply says whether it did."""

    amount: int


@attrs.frozen
class Balance(Request[int]):
    """Ask for the balance."""


AccountMessage = Deposit | Withdraw | Balance


class Account(Actor[AccountMessage]):
    """One account; it accepts only `AccountMessage`s."""

    def __init__(self, balance: int = 0, *, overdraft: int = 0) -> None:
        self.balance = balance
        self.overdraft = overdraft

    async def receive(self, message: AccountMessage) -> object:
        match message:
            case Deposit(amount=amount):
                self.balance += amount
                return None
            case Withdraw(amount=amount):
                if self.balance + self.overdraft < amount:
                    return False
                self.balance -= amount
                return True
            case Balance():
                return self.balance


@attrs.frozen
class Open(Request[ActorRef[AccountMessage]]):
    """Ask the bank to open an account named *name*; the reply is its typed ref."""

    name: str
    balance: int


class Bank(Actor[Open]):
    """Opens accounts as its children: ``context.spawn`` is typed like ``system.spawn``."""

    async def receive(self, message: Open) -> object:
        # An ActorRef[AccountMessage], inferred from Account's declaration.
        return await self.context.spawn(Account, message.balance, name=message.name)


async def main() -> None:
    async with ActorSystem("typed") as system:
        bank = await system.spawn(Bank, name="bank")
        alice = await bank.ask(Open("alice", 100))  # ActorRef[AccountMessage]
        bob = await system.spawn(Account, overdraft=50)  # ActorRef[AccountMessage]

        alice.tell(Deposit(20))
        took: bool = await alice.ask(Withdraw(130))
        print(f"alice withdraws 130: {took}")
        took = await alice.ask(Withdraw(70))
        print(f"alice withdraws 70: {took}")
        bob.tell(Deposit(10))
        print(f"bob withdraws 40 with an overdraft of 50: {await bob.ask(Withdraw(40))}")

        total = await alice.ask(Balance()) + await bob.ask(Balance())  # an int
        print(f"balances: alice {await alice.ask(Balance())}, bob {await bob.ask(Balance())}")
        print(f"total: {total}")
    print("done")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    actorlib.run(main, backend=parser.parse_args().backend)
