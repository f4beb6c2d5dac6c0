"""Bank scenario (Savina): a teller makes each transfer with two asks, a debit then a credit."""

from __future__ import annotations

import math
import random
import time

import anyio
import anyio.lowlevel
import attrs
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from actorlib import Actor, ActorRef, ActorSystem
from benchmarks._raw import drain
from benchmarks._scenario import Scenario
from benchmarks.peers import savina_peers

ACCOUNTS = 1000
INITIAL_BALANCE = 1_000_000
SEED = 7


def _describe(size: int) -> str:
    return (
        f"1 teller, {ACCOUNTS:,} accounts, {size:,} random transfers (seeded), "
        "each an ask to debit then an ask to credit, one transfer at a time"
    )


def make_transfers(size: int) -> list[tuple[int, int, int]]:
    """(source, destination, amount) for each transfer, the same for both variants."""
    rng = random.Random(SEED)
    transfers = []
    for _ in range(size):
        source = rng.randrange(ACCOUNTS)
        destination = (source + 1 + rng.randrange(ACCOUNTS - 1)) % ACCOUNTS
        transfers.append((source, destination, rng.randrange(1, 1000)))
    return transfers


@attrs.frozen
class _Debit:
    amount: int


@attrs.frozen
class _Credit:
    amount: int


@attrs.frozen
class _Transfer:
    source: int
    destination: int
    amount: int


class _Account(Actor):
    """A balance; answers a debit with whether it went through, a credit with None."""

    def __init__(self) -> None:
        self.balance = INITIAL_BALANCE

    async def receive(self, message: object) -> object:
        if isinstance(message, _Debit):
            if message.amount > self.balance:
                return False
            self.balance -= message.amount
            return True
        if isinstance(message, _Credit):
            self.balance += message.amount
            return None
        if message == "balance":
            return self.balance
        return None


class _Teller(Actor):
    """Handles each transfer by asking the source to debit, then the destination to credit."""

    def __init__(self, accounts: list[ActorRef[object]], total: int, done: anyio.Event) -> None:
        self.accounts = accounts
        self.total = total
        self.done = done
        self.completed = 0

    async def receive(self, message: object) -> object:
        assert isinstance(message, _Transfer)
        if await self.accounts[message.source].ask(_Debit(message.amount)):
            await self.accounts[message.destination].ask(_Credit(message.amount))
        self.completed += 1
        if self.completed == self.total:
            self.done.set()
        return None


async def actorlib_bank(size: int) -> float:
    """The benchmark tells the teller every transfer; seconds until it has made them all."""
    transfers = [_Transfer(*transfer) for transfer in make_transfers(size)]
    done = anyio.Event()
    async with ActorSystem("bench-bank") as system:
        accounts = [await system.spawn(_Account) for _ in range(ACCOUNTS)]
        teller = await system.spawn(_Teller, accounts, size, done)
        start = time.perf_counter()
        for transfer in transfers:
            teller.tell(transfer)
        await done.wait()
        elapsed = time.perf_counter() - start
        balances = [await account.ask("balance") for account in accounts]
    assert sum(balances) == ACCOUNTS * INITIAL_BALANCE
    return elapsed


@attrs.define
class _ReplySlot:
    """Where an account puts one answer; the teller waits on `ready` (as in pingpong's raw ask)."""

    ready: anyio.Event = attrs.Factory(anyio.Event)
    value: bool = False


#: A raw request to an account: (amount, slot); a debit is a negative amount.
_Request = tuple[int, _ReplySlot]


async def _raw_account(
    inbox: MemoryObjectReceiveStream[_Request], balances: list[int], index: int
) -> None:
    balance = INITIAL_BALANCE
    # Plain receive(), as pingpong's raw server: an account never has more than
    # one request queued, so draining would only add a WouldBlock per request.
    async for amount, slot in inbox:
        if balance + amount >= 0:
            balance += amount
            slot.value = True
        slot.ready.set()
    balances[index] = balance


async def _raw_ask(account: MemoryObjectSendStream[_Request], amount: int) -> bool:
    slot = _ReplySlot()
    account.send_nowait((amount, slot))
    await slot.ready.wait()
    return slot.value


async def _raw_teller(
    inbox: MemoryObjectReceiveStream[tuple[int, int, int]],
    accounts: list[MemoryObjectSendStream[_Request]],
    total: int,
    done: anyio.Event,
) -> None:
    completed = 0
    async for source, destination, amount in drain(inbox):
        if await _raw_ask(accounts[source], -amount):
            await _raw_ask(accounts[destination], amount)
        completed += 1
        if completed == total:
            done.set()
            return


async def raw_bank(size: int) -> float:
    """A teller task does request/reply with account tasks over their streams."""
    transfers = make_transfers(size)
    done = anyio.Event()
    balances = [0] * ACCOUNTS
    streams = [anyio.create_memory_object_stream[_Request](math.inf) for _ in range(ACCOUNTS)]
    senders = [sender for sender, _ in streams]
    to_teller, teller_inbox = anyio.create_memory_object_stream[tuple[int, int, int]](math.inf)
    async with anyio.create_task_group() as tg:
        for index, (_, inbox) in enumerate(streams):
            tg.start_soon(_raw_account, inbox, balances, index)
        tg.start_soon(_raw_teller, teller_inbox, senders, size, done)
        await anyio.lowlevel.checkpoint()  # every task waits on its stream before the clock
        start = time.perf_counter()
        for transfer in transfers:
            to_teller.send_nowait(transfer)
        await done.wait()
        elapsed = time.perf_counter() - start
        for sender in senders:
            sender.close()
    assert sum(balances) == ACCOUNTS * INITIAL_BALANCE
    return elapsed


SCENARIOS = (
    Scenario(
        name="bank",
        unit="transactions/s",
        size=6_000,
        describe=_describe,
        actorlib=actorlib_bank,
        raw=raw_bank,
        target=None,
        peers=savina_peers("bank"),
    ),
)
