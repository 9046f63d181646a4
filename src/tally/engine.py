"""The write path: one ordered committer per ledger, with group commit.

Callers queue commands. Whoever finds no commit in progress becomes the leader:
it takes everything waiting (up to a bound), opens one database transaction
(which locks the journal head, so writers in other processes wait their turn),
loads the touched accounts once, runs the commands one by one through the core
rules in memory, writes every event and derived row, and commits. One fsync
covers many transfers; `seq` follows the commit order; there are no deadlocks
and no lock waits per account, however hot.
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from itertools import islice
from operator import attrgetter
from typing import TypeVar, cast

from tally.core.account import Account
from tally.core.commands import (
    Command,
    CreateTransfer,
    ExpireDue,
    OpenAccount,
    ResolvePending,
    ReverseTransfer,
    SetAccountStatus,
    TransferBatch,
    UpdateAccount,
)
from tally.core.errors import Unavailable
from tally.core.events import chain_hash
from tally.core.limits import EXPIRY_BATCH_MAX, GROUP_TRANSFERS_MAX, WRITE_RETRIES_MAX, WRITE_RETRY_SECONDS_MAX
from tally.core.machine import Result, execute
from tally.core.state import Working
from tally.core.transfer import Transfer, TransferStatus
from tally.currencies import iso_scale
from tally.store.base import ACCOUNT_MOVED_COLUMNS, ACCOUNT_UPDATED_COLUMNS, Changes, Head, Store, dumps

log = logging.getLogger("tally.engine")
T = TypeVar("T")

Clock = Callable[[], float]

# The accounts, and the pending transfers, the engine remembers from its own
# commits, at most (see _Known).
KNOWN_ACCOUNTS_MAX = 10_000
KNOWN_PENDING_MAX = 10_000
# After its remembered accounts turned out stale (another process wrote), the
# engine loads the usual way for this many groups, then more, up to the last.
STALE_PAUSE_MIN, STALE_PAUSE_MAX = 16, 4096

# What a write may change of an account besides its balances: an account whose
# settings are as the group found them gets only its balances written.
_settings = attrgetter(*(name for name in ACCOUNT_UPDATED_COLUMNS if name not in ACCOUNT_MOVED_COLUMNS))


@dataclass(frozen=True, slots=True)
class Written:
    """What one write answered, and whether it recorded anything.

    `created` is False for a replay of an existing id (and for a refusal or a
    command that changed nothing). The journal decides it, inside the write
    transaction, so it holds across processes: of concurrent copies of one
    request, exactly one reads `created`.
    """

    result: Result
    created: bool


class _Sent:
    """How much of a group's work the store has been handed so far."""

    __slots__ = ("begin", "entries", "events", "hash", "transfers")

    def __init__(self, hash: str, begin: Callable[[], None] | None = None) -> None:
        self.events = 0
        self.entries = 0
        self.hash = hash  # the chain's hash after the last event sent
        self.transfers: dict[str, Transfer] = {}  # new transfers sent, as they were then
        self.begin = begin  # to call before the first rows go, if the transaction is not begun yet

    def begun(self) -> None:
        """Begin the store's transaction, if it is not yet."""
        if self.begin is not None:
            begin, self.begin = self.begin, None
            begin()


class _Item:
    __slots__ = ("command", "done", "dry_run", "error", "result", "wake")

    def __init__(self, command: Command, dry_run: bool) -> None:
        self.command = command
        self.dry_run = dry_run
        self.result: Written | None = None
        self.error: BaseException | None = None
        self.done = False
        self.wake = threading.Lock()  # held until the item is done or must lead
        self.wake.acquire()

    @property
    def weight(self) -> int:
        return len(self.command.transfers) if isinstance(self.command, TransferBatch) else 1


def _known_scale(currencies: Mapping[str, int], code: str) -> int | None:
    """A currency's scale without asking the store: registered and seen, or ISO 4217."""
    scale = currencies.get(code)
    return iso_scale(code) if scale is None else scale


class _Loader:
    """Reads for the rules inside the write transaction, each id at most once."""

    def __init__(self, store: Store, currencies: dict[str, int]) -> None:
        self.store = store
        self.accounts: dict[str, Account | None] = {}
        self.transfers: dict[str, Transfer | None] = {}
        self.currencies = currencies

    def prefetch(self, account_ids: set[str], transfer_ids: set[str]) -> None:
        """Load what is not loaded yet: one store call, and one more for the
        accounts of transfers that were just found (reversals, holds)."""
        transfer_ids -= self.transfers.keys()
        account_ids -= self.accounts.keys()
        if transfer_ids or account_ids:
            self.add(account_ids, transfer_ids, *self.store.load(list(account_ids), list(transfer_ids)))

    def add(
        self,
        account_ids: set[str],
        transfer_ids: set[str],
        accounts: Mapping[str, Account],
        transfers: Mapping[str, Transfer],
    ) -> None:
        """Keep what a load of these ids found, and load the accounts of the transfers it found."""
        self._keep(account_ids, accounts, self.accounts)
        self._keep(transfer_ids, transfers, self.transfers)
        parties = {id for t in transfers.values() for id in (t.source, t.destination)} - self.accounts.keys()
        if parties:
            more, _ = self.store.load(list(parties), [])
            self._keep(parties, more, self.accounts)

    @staticmethod
    def _keep(ids: set[str], found: Mapping[str, T], into: dict[str, T | None]) -> None:
        for id in ids:
            into[id] = found.get(id)  # None too: a missing id is not asked for again

    def account(self, id: str) -> Account | None:
        if id not in self.accounts:
            self.prefetch({id}, set())
        return self.accounts[id]

    def transfer(self, id: str) -> Transfer | None:
        if id not in self.transfers:
            self.prefetch(set(), {id})
        return self.transfers[id]

    def currency_scale(self, code: str) -> int | None:
        scale = _known_scale(self.currencies, code)
        if scale is None:
            # Registered by another process since we last looked?
            self.currencies.update(self.store.load_currencies())
            scale = self.currencies.get(code)
        return scale


class WriteNeeded(Exception):
    """A call made under `reads_only()` needed a write (a hold came due): nothing was written."""


# Set by `reads_only()`: a caller that must not wait on a write (an event loop
# answering a read) finds out before anything is queued, and calls again where
# it may wait.
_READS_ONLY: ContextVar[bool] = ContextVar("tally_reads_only", default=False)


@contextlib.contextmanager
def reads_only() -> Iterator[None]:
    """Within this block, any write raises `WriteNeeded` instead of running."""
    token = _READS_ONLY.set(True)
    try:
        yield
    finally:
        _READS_ONLY.reset(token)


# Set by `writes_at_once()`: a caller that must not wait for other writers
# (an event loop with no other write in flight) writes in its own thread only
# if it need not wait, and else finds out with nothing written.
_AT_ONCE: ContextVar[bool] = ContextVar("tally_writes_at_once", default=False)


@contextlib.contextmanager
def writes_at_once() -> Iterator[None]:
    """Within this block, a write runs in this thread, alone in its group, only if
    it need not wait: if another thread is writing, or another process holds the
    database's write lock, it raises `WriteNeeded` instead, with nothing written."""
    token = _AT_ONCE.set(True)
    try:
        yield
    finally:
        _AT_ONCE.reset(token)


class _NotKnown(Exception):
    """A group needs something the engine does not remember: it loads the usual way."""


class _Known:
    """The journal's head after this engine's last commit, and the accounts
    and pending transfers as it left them.

    While the head stays there, no write has committed since (every write
    moves it), so these are the database's: a group of new transfers among
    these accounts, and of posts and voids of these holds, is decided
    without loading anything, in a transaction begun with
    `Store.begin_on_head`, which refuses if the head has moved.
    """

    __slots__ = ("accounts", "head", "pending")

    def __init__(self, head: Head) -> None:
        self.head = head
        self.accounts: dict[str, Account] = {}
        self.pending: dict[str, Transfer] = {}

    def keep(self, accounts: Mapping[str, Account | None], transfers: Mapping[str, Transfer | None]) -> None:
        """Remember these accounts and holds as they are now (a transfer no
        longer pending is forgotten: its replays are answered the usual way)."""
        if len(self.accounts) + len(accounts) > KNOWN_ACCOUNTS_MAX:
            self.accounts.clear()
        for id, account in accounts.items():
            if account is not None:
                self.accounts[id] = account
        pending = self.pending
        for id, transfer in transfers.items():
            if transfer is not None and transfer.status == TransferStatus.PENDING:
                pending[id] = transfer
            else:
                pending.pop(id, None)
        if len(pending) > KNOWN_PENDING_MAX:
            pending.clear()  # forgotten holds load the usual way


class _KnownLoader:
    """The rules' reads for a group decided from `_Known`: nothing goes to the store."""

    def __init__(self, known: _Known, new_ids: set[str], currencies: dict[str, int]) -> None:
        self.accounts = known.accounts
        self.pending = known.pending
        self.new_ids = new_ids  # the ids of the group's new transfers
        self.currencies = currencies

    def account(self, id: str) -> Account | None:
        account = self.accounts.get(id)
        if account is None:
            raise _NotKnown(id)
        return account

    def transfer(self, id: str) -> Transfer | None:
        transfer = self.pending.get(id)
        if transfer is not None:
            return transfer
        if id in self.new_ids:
            # A new id, as far as anyone can tell without asking: if it exists,
            # the store's primary key refuses the write and the group goes again
            # the usual way, which answers the replay.
            return None
        raise _NotKnown(id)  # a post or void of a transfer not remembered as pending

    def currency_scale(self, code: str) -> int | None:
        scale = _known_scale(self.currencies, code)
        if scale is None:
            raise _NotKnown(code)
        return scale


def _known_kinds(commands: Sequence[Command]) -> tuple[list[CreateTransfer], int] | None:
    """The new transfers of a group made only of new transfers (alone or in
    batches) and posts and voids, and how many commands in all; else None."""
    found: list[CreateTransfer] = []
    resolved = 0
    for command in commands:
        if isinstance(command, CreateTransfer):
            found.append(command)
        elif isinstance(command, ResolvePending):
            resolved += 1
        elif isinstance(command, TransferBatch) and all(isinstance(t, CreateTransfer) for t in command.transfers):
            found += cast(tuple[CreateTransfer, ...], command.transfers)
        else:
            return None
    return found, len(found) + resolved


def _touched(commands: Sequence[Command]) -> tuple[set[str], set[str]]:
    accounts: set[str] = set()
    transfers: set[str] = set()
    for command in commands:
        if isinstance(command, CreateTransfer):
            accounts.update((command.source, command.destination))
            transfers.add(command.id)
        elif isinstance(command, ReverseTransfer):
            transfers.update((command.id, command.reverses))
        elif isinstance(command, TransferBatch):
            more_accounts, more_transfers = _touched(command.transfers)
            accounts |= more_accounts
            transfers |= more_transfers
        elif isinstance(command, (ResolvePending,)):
            transfers.add(command.id)
        elif isinstance(command, ExpireDue):
            transfers.update(command.ids)
        elif isinstance(command, (OpenAccount, UpdateAccount, SetAccountStatus)):
            accounts.add(command.id)
    return accounts, transfers


class Engine:
    def __init__(self, store: Store, clock: Clock = time.time, write_timeout: float = WRITE_RETRY_SECONDS_MAX) -> None:
        self.store = store
        self.clock = clock
        self.write_timeout = write_timeout  # seconds a write keeps retrying before `unavailable`
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)  # notified when no commit is in progress
        self._queue: deque[_Item] = deque()
        self._committing = False
        self._currencies: dict[str, int] = {}
        self._closed = False
        self._known: _Known | None = None
        self._pause = 0  # groups to go before deciding one from `_known` again
        self._next_pause = STALE_PAUSE_MIN
        self.commits = 0  # write transactions committed, for metrics and tests
        self.known_commits = 0  # of which decided from remembered accounts, in one store call

    def now_us(self) -> int:
        return int(self.clock() * 1_000_000)

    # --- submitting ------------------------------------------------------------
    def submit(self, command: Command, *, dry_run: bool = False) -> Written:
        if _READS_ONLY.get():
            raise WriteNeeded(type(command).__name__)
        (answer,) = self._queued([_Item(command, dry_run)])
        if isinstance(answer, Exception):
            raise answer
        return answer

    def submit_all(self, commands: Sequence[Command]) -> list[Written | Exception]:
        """Several callers' commands from one thread, queued together in order.

        Each is committed as `submit` would commit it, in a group with whatever
        else is queued, and answered on its own: its `Written`, or the error
        `submit` would raise, in its place. Only the thread waits, once per group
        rather than once per command: a server that gathers concurrent requests
        hands them to one thread instead of one thread each (tally.http.service).
        """
        if _READS_ONLY.get() or _AT_ONCE.get():
            raise WriteNeeded("several commands")
        # (Nothing queued would have no one to lead: the engine would wait forever.)
        return self._queued([_Item(command, False) for command in commands]) if commands else []

    def _queued(self, items: list[_Item]) -> list[Written | Exception]:
        """Queue `items` (at least one) and wait until each is done, leading when its turn comes."""
        with self._lock:
            if self._closed:
                raise Unavailable("the ledger is closed")
            if self._committing and _AT_ONCE.get():
                raise WriteNeeded(type(items[0].command).__name__)
            self._queue.extend(items)
            lead = not self._committing
            self._committing = True
        try:
            for index, item in enumerate(items):
                if index or not lead:
                    # Sleep until a leader finishes the item (its group may hold
                    # several of ours) or hands us its role: only the callers
                    # whose items are done wake, not every waiter.
                    item.wake.acquire()
                if not item.done:
                    self._lead(item)
        except BaseException:
            self._withdraw(items)
            raise
        answers: list[Written | Exception] = []
        for item in items:
            if item.error is not None:
                assert isinstance(item.error, Exception)  # what `_commit_group` and `_lead` set
                answers.append(item.error)
            else:
                assert item.result is not None
                answers.append(item.result)
        return answers

    def _withdraw(self, items: list[_Item]) -> None:
        """An interrupt left `_queued`: its items not yet taken leave the queue,
        and the role of leader, if one of them was handed it, goes on. (Items
        another leader has taken are its to finish.)"""
        with self._lock:
            handed = False
            for item in items:
                if item.done or item not in self._queue:
                    continue
                self._queue.remove(item)
                handed |= item.wake.acquire(blocking=False)  # released only to hand the role on
                item.error, item.done = Unavailable("the write was interrupted; retry with the same id"), True
            if handed:
                if self._queue:
                    self._queue[0].wake.release()
                else:
                    self._committing = False
                    self._idle.notify_all()

    def _lead(self, mine: _Item) -> None:
        """Commit groups until our own item is done, then hand the role on."""
        group: list[_Item] = []
        try:
            while not mine.done:
                with self._lock:
                    group = self._take()
                with self.store.without_waiting() if _AT_ONCE.get() else contextlib.nullcontext():
                    self._commit_group(group)
                done, group = group, []  # first: a group is woken once, whatever interrupts
                self._wake(done, mine)
        finally:
            # Only an interrupt (a BaseException) leaves a group here: whether
            # it committed is unknown, so its callers are told to retry.
            for item in group:
                if not item.done:
                    item.error, item.done = Unavailable("the write was interrupted; retry with the same id"), True
            self._wake(group, mine)
            with self._lock:
                if self._queue:
                    self._queue[0].wake.release()  # its caller leads next
                else:
                    self._committing = False
                    self._idle.notify_all()

    @staticmethod
    def _wake(group: list[_Item], mine: _Item) -> None:
        for item in group:
            if item is not mine:
                item.wake.release()

    def _take(self) -> list[_Item]:
        """The next group: FIFO, up to the bound; a dry run always goes alone, and so
        does a write at once (first in the queue: nobody was committing when it came;
        an item queued since waits for the next leader, never for its `WriteNeeded`)."""
        group = [self._queue.popleft()]
        if group[0].dry_run or _AT_ONCE.get():
            return group
        weight = group[0].weight
        while self._queue and not self._queue[0].dry_run:
            weight += self._queue[0].weight
            if weight > GROUP_TRANSFERS_MAX:
                break
            group.append(self._queue.popleft())
        return group

    # --- committing ----------------------------------------------------------
    def _commit_group(self, group: list[_Item]) -> None:
        try:
            results = self._with_retries(lambda: self._run([item.command for item in group], group[0].dry_run))
        except Exception as error:  # noqa: BLE001 - handed to each caller
            if len(group) > 1 and not isinstance(error, Unavailable):
                # Keep one failing command from failing the others with it.
                for item in group:
                    self._commit_group([item])
                return
            for item in group:
                item.error, item.done = error, True
            return
        for item, result in zip(group, results, strict=True):
            item.result, item.done = result, True

    def _with_retries(self, run: Callable[[], list[Written]]) -> list[Written]:
        deadline = time.monotonic() + self.write_timeout
        for attempt in range(WRITE_RETRIES_MAX):
            try:
                return run()
            except Exception as error:
                if not self.store.is_transient(error):
                    raise
                if _AT_ONCE.get():
                    raise WriteNeeded("the database is busy") from error
                if time.monotonic() > deadline:
                    raise Unavailable("the database stayed unavailable; retry with the same id") from error
                log.info("write retried after a transient error: %s", error)
                time.sleep(min(0.5, 0.002 * 2**attempt) * random.uniform(0.5, 1.5))
        raise Unavailable("the database stayed busy; retry with the same id")

    def _run(self, commands: list[Command], dry_run: bool) -> list[Written]:
        if not dry_run:
            written = self._run_known(commands)
            if written is not None:
                return written
        known, self._known = self._known, None  # set again only by a clean commit
        clock_now = self.now_us()
        # The ids the commands name are loaded with the head, in the same round trip.
        accounts, transfers = _touched(commands)
        head, due, found_accounts, found_transfers = self.store.begin(
            clock_now, EXPIRY_BATCH_MAX, list(accounts), list(transfers)
        )
        try:
            # Time never goes backwards along the journal. (Should the clock
            # step back, holds due by the head's time wait for a later group.)
            now = max(clock_now, head.time_us)
            loader = _Loader(self.store, self._currencies)
            loader.add(accounts, transfers, found_accounts, found_transfers)
            if due:
                loader.prefetch(set(), set(due))
            if len(due) >= EXPIRY_BATCH_MAX:
                # The sweep is bounded and left some due: those of the accounts
                # this group reads (reversals' and holds' too, now loaded) must
                # expire as well, or the rules would count them as still held.
                seen = set(due)
                loaded = sorted(id for id, account in loader.accounts.items() if account is not None)
                due += [id for id in self.store.due_for_accounts(loaded, now) if id not in seen]
            state = Working(loader, head.seq, now)
            sent = None if dry_run else _Sent(head.hash)
            if due:
                execute(state, ExpireDue(tuple(due)))
            results = [self._execute(state, command, sent) for command in commands]
            if sent is None or not state.events:
                self.store.rollback()
                self._known = known  # nothing written: still as true (or stale) as it was
                return results
            changes = self._changes(state, sent, final=True, found=loader.accounts)
            self.store.write(changes)
            self.store.commit()
            self.commits += 1
            assert changes.head is not None
            self._remember(known, head, loader, state, changes.head)
            return results
        except BaseException:
            self.store.rollback()
            raise

    def _remember(self, known: _Known | None, head: Head, loader: _Loader, state: Working, new_head: Head) -> None:
        """Keep the accounts and holds a group loaded and left, as of its commit (see `_Known`)."""
        if known is None or known.head != head:
            if known is not None:  # another writer moved the head since our last commit
                self._stale()
            known = _Known(head)
        known.keep(loader.accounts, loader.transfers)
        known.keep(state.accounts, state.transfers)
        known.head = new_head
        self._known = known

    def _stale(self) -> None:
        self._pause, self._next_pause = self._next_pause, min(STALE_PAUSE_MAX, self._next_pause * 2)

    def _run_known(self, commands: list[Command]) -> list[Written] | None:
        """A group of new transfers among remembered accounts, and of posts and
        voids of remembered holds, decided without loading anything.

        The store begins with `begin_on_head` instead of `begin`: no loads,
        and across a network the whole group may go in one round trip. None
        when it cannot be: the group needs something not remembered, records
        nothing, or the store refused it (the head moved, a hold is due, an id
        exists) or failed; `_run` goes on the usual way.
        """
        known = self._known
        if known is None:
            return None
        if self._pause:
            self._pause -= 1
            return None
        plain = _known_kinds(commands)
        if plain is None:
            return None
        transfers, count = plain
        if not count or any(t.source not in known.accounts or t.destination not in known.accounts for t in transfers):
            return None
        clock_now = self.now_us()
        loader = _KnownLoader(known, {t.id for t in transfers}, self._currencies)
        state = Working(loader, known.head.seq, max(clock_now, known.head.time_us))
        # The transaction begins when the first rows go: a short group is
        # decided first (nothing reaches the store if something is not
        # remembered), a long one sends its parts as they are decided. On
        # SQLite a moved head is known when it begins; across a network, at
        # the commit.
        sent = _Sent(known.head.hash, lambda: self.store.begin_on_head(known.head, clock_now))
        try:
            results = [self._execute(state, command, sent) for command in commands]
            if not state.events:
                # Nothing to record (an atomic batch refused): its answer must
                # come from accounts read under the head's lock, the usual way.
                self.store.rollback()
                return None
            changes = self._changes(state, sent, final=True, found=known.accounts)
            sent.begun()
            self.store.write(changes)
            self.store.commit()
        except Exception:  # noqa: BLE001 - the usual way decides
            # Something not remembered (a hold, an account); Stale; an id that
            # exists (the primary key refused it); a busy database; a
            # connection lost, perhaps during the COMMIT. The usual way answers
            # each (it finds the transfers if they were written, and answers
            # them as replays), and keeps what is remembered only if it finds
            # the head where this engine's last commit left it.
            self.store.rollback()
            return None
        except BaseException:
            self.store.rollback()
            self._known = None
            raise
        assert changes.head is not None
        self.commits += 1
        self.known_commits += 1
        known.keep(state.accounts, state.transfers)
        known.head = changes.head
        self._next_pause = STALE_PAUSE_MIN
        return results

    def _execute(self, state: Working, command: Command, sent: _Sent | None) -> Written:
        recorded = len(state.events)
        stream = self.store.stream_events  # parts of this many events, or None: all at the group's end
        if stream is None or sent is None:
            return Written(execute(state, command), len(state.events) > recorded)
        if isinstance(command, TransferBatch) and not command.atomic:
            # A long batch goes in slices, each sent to the store once decided
            # (the same results: the items of a batch that is not atomic are
            # decided one by one, in order, whatever the slicing).
            results: list[Transfer] = []
            for start in range(0, len(command.transfers), stream):
                part = TransferBatch(command.transfers[start : start + stream], atomic=False)
                results += cast(list[Transfer], execute(state, part))
                self._send(state, sent, stream)
            result: Result = results
        else:
            result = execute(state, command)
            self._send(state, sent, stream)
        return Written(result, len(state.events) > recorded)

    def _send(self, state: Working, sent: _Sent, stream: int) -> None:
        """Hand the store the rows decided so far, once there are `stream` events of them.

        A store across a network starts writing them while the rules decide the
        rest of the group: its work overlaps ours instead of following it.
        """
        if len(state.events) - sent.events >= stream:
            sent.begun()
            self.store.write(self._changes(state, sent, final=False))

    @staticmethod
    def _changes(
        state: Working, sent: _Sent, *, final: bool, found: Mapping[str, Account | None] | None = None
    ) -> Changes:
        """The rows not sent yet: the journal, entries and new transfers so far;
        and, in the final part, the accounts, the changed transfers and the head.

        `found`: the accounts as the group read them in its transaction; one
        whose settings the group left as they were has only its balances written.
        """
        now = state.now_us
        changes = Changes(entries=state.entries[sent.entries :])
        previous = sent.hash
        journal = changes.journal
        for seq, kind, data in state.events[sent.events :]:
            text = dumps(data)
            previous = chain_hash(previous, seq, now, kind, text)
            journal.append((seq, now, kind, text, previous))
        sent.events, sent.entries, sent.hash = len(state.events), len(state.entries), previous
        for id in islice(state.new_transfers, len(sent.transfers), None):
            transfer = state.transfers[id]
            changes.new_transfers.append(transfer)
            sent.transfers[id] = transfer
        if not final:
            return changes
        for id, transfer in state.transfers.items():
            if id not in state.new_transfers or transfer is not sent.transfers[id]:
                # Changed since it was sent, if new: a reversal or a resolution
                # of a transfer made earlier in the same group.
                changes.changed_transfers.append(transfer)
        found = found or {}
        for id, account in state.accounts.items():
            if id in state.new_accounts:
                changes.new_accounts.append(account)
                continue
            before = found.get(id)
            if before is not None and _settings(account) == _settings(before):
                changes.moved_accounts.append(account)
            else:
                changes.changed_accounts.append(account)
        changes.currencies = list(state.currencies.items())
        changes.head = Head(state.seq, previous, now)
        return changes

    # --- expiry ----------------------------------------------------------------
    def expire_due(self) -> int:
        """Expire every hold whose time has come; returns how many groups it took.

        Every write group sweeps up to EXPIRY_BATCH_MAX due holds first; this
        runs empty groups until none is left (bounded).
        """
        rounds = 0
        while rounds < 1000:
            next_us = self.store.next_expiry()
            if next_us is None or next_us > self.now_us():
                break
            self.submit(ExpireDue(()))
            rounds += 1
        return rounds

    def expire_for(self, account_ids: Sequence[str]) -> None:
        """Before a read: expire the due holds that touch these accounts."""
        if account_ids:
            self.expire(self.store.due_for_accounts(account_ids, self.now_us()))

    def expire(self, ids: Sequence[str]) -> None:
        """Expire these holds, each if it is still due when the write runs."""
        if ids:
            self.submit(ExpireDue(tuple(ids)))

    def close(self) -> None:
        with self._lock:
            self._closed = True
            while self._committing:
                self._idle.wait()
