"""The local result cache: SQLite at ``<state root>/local-cache/cache.db``.

An entry is written in one transaction together with a digest of its outputs, so a process
killed at any point of a write leaves either no entry or the whole one, and a reader checks
the digest before trusting it. Entries this process read (and checked) or wrote are kept in
memory for the next lookup, as long as ``PRAGMA data_version`` says no other connection has
committed since: another process's ``flyte cache clear``, overwrite or tampering is seen by
every call made after it. One check serves every call made before it (the calls of one
``asyncio.gather``): see :func:`ticket`. A task's keys, read once a few of its lookups found
nothing, answer its next misses the same way, without reading their rows. Many processes
may read and write at once (WAL mode, busy timeout). A damaged or unreadable cache file is
reported once, clearly, and the run goes on without the cache: it can cost a recomputation,
never a wrong result.

A call that is not serialized stores its entry with the next batch (:meth:`CacheStore.put_later`),
which a committer thread commits beside the calls once it is full or :data:`BATCH_SECONDS` old
(so another process sees an entry put outside any run within about that time); the end of every
run waits for it (:meth:`CacheStore.flush`), so a run's entries are in the database once the
run returns.

``serialize=True`` uses a reservation row per key: the holder runs the task and refreshes a
heartbeat; the others wait and then read its result. A reservation whose process is gone, or
whose heartbeat is older than :data:`RESERVATION_TTL`, is taken over by one waiter.
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import itertools
import logging
import os
import socket
import sqlite3
import threading
import time
import warnings
from collections import OrderedDict
from datetime import timedelta
from pathlib import Path
from typing import Any

from flyte._home import private_file, state_path
from flyte._sqlite import use_wal
from flyte.errors import CacheError
from flyte.runtime.store import process_start

logger = logging.getLogger("flyte.cache")

RESERVATION_TTL = 5.0  # seconds without a heartbeat after which a reservation is abandoned
HEARTBEAT = 1.0
BUSY_TIMEOUT = 30.0  # seconds a statement waits for another connection's write lock
DISABLE_VALUES = {"false", "0", "no", "off"}

SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    key TEXT PRIMARY KEY,
    task TEXT NOT NULL,
    version TEXT,
    created_at REAL NOT NULL,
    outputs TEXT NOT NULL,
    digest TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS entries_by_task ON entries (task);
CREATE TABLE IF NOT EXISTS reservations (
    key TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    pid_start TEXT,
    heartbeat REAL NOT NULL
);
"""


def enabled_by_env() -> bool:
    return os.environ.get("FLYTE_LOCAL_CACHE_ENABLED", "true").strip().lower() not in DISABLE_VALUES


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# put_later commits its entries once this many are held, or the oldest is this old.
BATCH_ROWS = 512
BATCH_SECONDS = 0.5
# Rows per INSERT statement at most (6 variables each; fewer if this SQLite allows fewer
# variables). Compiling a statement costs about as much per row as running it (~12k
# instructions a row), once per connection and size (see _chunks); past ~50 rows a statement
# its per-run cost is spread thin: 128 compiles little and runs as fast as 1,024 (a run of
# 2,000 misses on a fresh connection: 2.2 µs a row of SQLite CPU against 2.7 for 1,024, and
# 3.3 with a statement compiled for each batch's size).
STATEMENT_ROWS = 128
# SQLite's page cache for the cache file, KiB (its default is 2 MiB): the key's index of a
# cache in long use is larger, and a page read again from the file costs a system call.
PAGE_CACHE_KIB = 32 * 1024


@functools.lru_cache(maxsize=16)
def _insert_sql(rows: int) -> str:
    """The statement storing ``rows`` entries (SQLite also keeps it compiled: the sqlite3
    module's statement cache is keyed by its text)."""
    values = ",".join(["(?, ?, ?, ?, ?, ?)"] * rows)
    return f"INSERT OR REPLACE INTO entries (key, task, version, created_at, outputs, digest) VALUES {values}"


def _chunks(rows: int, most: int) -> list[int]:
    """The statements' sizes for a batch of ``rows``: full ones of ``most`` rows, then the rest
    as powers of two (530 of 1,024: 512, 16, 2). At most one size more than the powers of two
    below ``most``, so a long-lived connection compiles each once; any batch takes at most
    about log2(most) statements more than its full ones."""
    sizes = [most] * (rows // most)
    rest = rows % most
    size = 1 << rest.bit_length()
    while rest:
        size >>= 1
        if rest >= size:
            sizes.append(size)
            rest -= size
    return sizes


# The entries kept in memory (CacheStore._known): at most this many, and this many characters
# of outputs; past either, the oldest go first.
KNOWN_ENTRIES = 20_000
KNOWN_CHARS = 16 * 1024 * 1024

# A task's keys are read into memory (CacheStore._keys: a miss answered without a read) after
# this many misses found by reading the row since the known entries were last dropped, and
# at least one for each KEYS_PER_MISS keys it had at its last reading: so reading them
# again each time another process commits costs at most about KEYS_PER_MISS keys per miss.
# A task with more than KEYS_MAX keys is not read (its misses read their row).
MISSES_BEFORE_KEYS = 8
KEYS_PER_MISS = 64
KEYS_MAX = 20_000


# The order of cached calls and freshness checks in this process (see ticket()).
_clock = itertools.count(1)


def ticket() -> int:
    """A call's place in this process's order of calls and freshness checks, taken when the
    call is made (for an async task: when its coroutine is created, e.g. in the arguments of
    ``asyncio.gather``); passed to :meth:`CacheStore.get` as ``made``.

    Why one ``PRAGMA data_version`` may serve many lookups: a lookup must see every change
    another connection committed before its call was made; changes committed while the call
    is under way may or may not be seen, as with any two overlapping operations. A check
    that ran after the call was made (its ticket is greater) saw all of those, and the
    entries known in memory are what the database held at that check, or newer (this
    connection's own writes, and :meth:`CacheStore.clear`'s forgetting). So a lookup may
    answer a known entry from memory when the latest check came after its call, and must
    check again otherwise. In a gather of cached calls every call is made before the first
    lookup runs: the first one checks, the rest reuse it. Calls awaited one by one each check
    (anything may have happened between them, e.g. a ``flyte cache clear`` run by the
    parent's own code with ``subprocess.run``, within one iteration of the event loop, so a
    memo per loop iteration would not be exact). The counter is shared by every thread and
    loop of the process: ``next()`` on it is atomic, and a check takes its ticket before it
    asks SQLite, so "the check's ticket is greater" means "the check started after the call
    was made"."""
    return next(_clock)


class CacheStore:
    """One process's handle on the cache database (thread-safe)."""

    def __init__(self, path: Path | None = None):
        self.path = path or state_path("local-cache") / "cache.db"
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._statement_rows = STATEMENT_ROWS  # (set again when the connection is made)
        self.broken: str | None = None
        self._pid = os.getpid()
        self._pid_start = process_start(self._pid)
        self._host = socket.gethostname()
        # Entries written by put_later and not yet committed: key -> (task, version, outputs, at).
        # Guarded by _held, not _lock (held by a commit for its whole statement): calls that
        # put entries do not wait for the committer thread's SQLite work.
        self._held = threading.Lock()
        self._pending: dict[str, tuple[str, str, str, float]] = {}
        self._handed = False  # whether _pending was handed to the committer thread (not yet taken)
        self._pending_since = 0.0
        # Entries a flush has taken from _pending and not yet committed: still answered, so a
        # lookup meanwhile (from another thread) does not miss an entry this process computed.
        self._flushing: dict[str, tuple[str, str, str, float]] = {}
        # Entries read (digest checked) or written through this connection: key -> outputs.
        # They are what the database holds as long as no other connection has committed since
        # _version (PRAGMA data_version) was read; when it changes they are all dropped.
        # (An OrderedDict: dropping the oldest is O(1). A dict's next(iter()) after many pops
        # from its front scans the slots they left: ~10 µs an entry once 20,000 are kept.)
        self._known: OrderedDict[str, str] = OrderedDict()
        self._known_chars = 0
        # Every key a task has in the database, read under _version (and this connection's
        # own writes since): a key not in it is a miss without a read. Dropped with _known.
        self._keys: dict[str, set[str]] = {}
        self._misses: dict[str, int] = {}  # per task: misses that read their row, since dropped
        self._keys_read: dict[str, int] = {}  # per task: how many keys it had when last read
        self._version: int | None = None
        # The ticket taken just before the latest PRAGMA data_version (0: none since _forget):
        # a call made before it may be answered from _known without asking again.
        self._checked = 0
        self.closed = False  # closed by its owner: get_store() hands out another handle
        # The committer thread (started by the first entry put_later holds): woken by a full
        # batch, and by a new one when it is idle (waiting without a timeout; otherwise its
        # timed wait ends before the new batch is due, and it works out the next one itself).
        # An Event, not a Condition on _held: the committer must not compete with the calls
        # for _held to wake up.
        self._committer: threading.Thread | None = None
        self._due = threading.Event()
        self._idle = True  # (no thread yet: the first entry starts one)
        # Held by a flush from its taking of the entries to their commit: a caller's flush
        # (the end of a run) waits for the committer's batch under way, so when it returns
        # every entry put before it is committed.
        self._flush_lock = threading.Lock()

    # -- connection ------------------------------------------------------------------------
    def _connection(self) -> sqlite3.Connection | None:
        if self.broken:
            return None
        if self._conn is None:
            try:
                private_file(self.path)
                conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False)
                use_wal(conn)
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute(f"PRAGMA cache_size=-{PAGE_CACHE_KIB}")
                variables = conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
                self._statement_rows = max(1, min(STATEMENT_ROWS, variables // 6))
                conn.executescript(SCHEMA)
                self._conn = conn
            except sqlite3.DatabaseError as exc:
                self._fail(exc)
                return None
        return self._conn

    def _fail(self, exc: BaseException) -> None:
        self.broken = f"{type(exc).__name__}: {exc}"
        warnings.warn(
            f"the local cache at {self.path} is unreadable ({self.broken}); tasks run without it. "
            f"Delete the file (or run `flyte cache clear`) to start a fresh cache.",
            CacheWarning,
            stacklevel=3,
        )

    def _run(self, fn: Any, default: Any = None) -> Any:
        with self._lock:
            conn = self._connection()
            if conn is None:
                return default
            try:
                return fn(conn)
            except sqlite3.DatabaseError as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
                    raise CacheError(f"local cache {self.path} stayed locked: {exc}") from exc
                self._fail(exc)
                return default

    def close(self) -> bool:
        """Commit the held entries and close the connection (the committer thread ends; a later
        call opens it again). Whether every entry was committed: when another process held the
        file's write lock too long they are still held (with a warning: :meth:`flush_or_keep`)."""
        committed = self.flush_or_keep()
        self.closed = True
        self._due.set()  # the committer thread, if any, ends
        with self._lock:
            self._forget()  # data_version counts per connection: a new one starts afresh
            if self._conn is not None:
                self._conn.close()
                self._conn = None
        return committed

    # -- entries known in memory -----------------------------------------------------------
    def _forget(self) -> None:
        self._known.clear()
        self._known_chars = 0
        self._keys = {}  # (a new dict: a lookup without the lock may hold the old one; see get)
        self._misses.clear()
        self._version = None
        self._checked = 0

    def _unchanged(self, conn: sqlite3.Connection) -> bool:
        """Whether no other connection committed since ``_version`` was read; when one did,
        the known entries are dropped and ``_version`` is read anew (before any read that
        fills them again: an entry is only ever newer than the version it is kept under)."""
        checked = next(_clock)  # before the statement: see ticket()
        version = conn.execute("PRAGMA data_version").fetchone()[0]
        unchanged = version == self._version
        if not unchanged:
            self._forget()
            self._version = version
        self._checked = checked
        return unchanged

    def _remember(self, key: str, outputs: str) -> None:
        """Keep an entry read or written through this connection (the caller holds ``_lock``
        and has read ``_version`` before the read or the write)."""
        old = self._known.pop(key, None)
        if old is not None:
            self._known_chars -= len(old)
        self._known[key] = outputs
        self._known_chars += len(outputs)
        known = self._known
        while len(known) > KNOWN_ENTRIES or self._known_chars > KNOWN_CHARS:
            self._known_chars -= len(known.popitem(last=False)[1])

    def _wrote(self, task: str, key: str) -> None:
        """This connection committed an entry of ``task`` (the caller holds ``_lock``)."""
        keys = self._keys.get(task)
        if keys is not None:
            keys.add(key)

    def _remember_all(self, pending: dict[str, tuple[str, str, str, float]]) -> None:
        """:meth:`_remember` and :meth:`_wrote` for a batch this connection just committed
        (the caller holds ``_lock``), kept in the order they were put."""
        known = self._known
        chars = self._known_chars
        if not known.keys().isdisjoint(pending):  # rewritten keys: their old outputs leave the count
            for key in pending:
                old = known.pop(key, None)
                if old is not None:
                    chars -= len(old)
        keys = self._keys
        for key, (task, _, outputs, _) in pending.items():
            known[key] = outputs
            chars += len(outputs)
            task_keys = keys.get(task)
            if task_keys is not None:
                task_keys.add(key)
        while len(known) > KNOWN_ENTRIES or chars > KNOWN_CHARS:
            chars -= len(known.popitem(last=False)[1])
        self._known_chars = chars

    # -- entries ---------------------------------------------------------------------------
    def get(self, key: str, made: int = 0, task: str | None = None, max_age: timedelta | None = None) -> str | None:
        """The outputs stored under ``key`` (encoded), or None; a corrupt entry is a miss.
        ``made``: the :func:`ticket` of the call looking it up (0: it is made now); ``task``:
        the task whose entry it is (its keys may then answer a miss from memory); ``max_age``:
        an entry older than it is a miss (``Cache.max_age``; None or zero: any age)."""
        if max_age:  # the entries kept in memory do not say their age: read it with the row
            return self._fresh(key, time.time() - max_age.total_seconds())
        pending = self._pending.get(key) or self._flushing.get(key)
        if pending is not None:
            return pending[2]
        if made and made < self._checked:  # checked since the call was made: see ticket()
            # Without the lock: a check running meanwhile in another thread (_unchanged) may
            # drop and refill the entries and keys, but each one read here is what the
            # database held at a check that started after the call was made (the one just
            # compared with, or that newer one), or this connection's own newer write; a clear
            # through this handle zeroes _checked, so calls made after it never get here.
            known = self._known.get(key)
            if known is not None:
                return known
            keys = self._keys.get(task)  # type: ignore[arg-type]  # (None is no task's)
            if keys is not None and key not in keys:
                return None
        return self._run(lambda c: self._read(c, key, task))

    def _read(self, c: sqlite3.Connection, key: str, task: str | None = None) -> str | None:
        known = self._known.get(key)
        if known is not None and self._unchanged(c):
            return known  # one PRAGMA instead of the row, its digest and its decoding
        if task is not None and task in self._keys and self._unchanged(c) and key not in self._keys[task]:
            return None  # one PRAGMA instead of the row's read (_unchanged may drop the keys)
        if self._version is None:  # read before the row: it is kept under this version
            self._unchanged(c)
        row = c.execute("SELECT outputs, digest FROM entries WHERE key=?", (key,)).fetchone()
        if row is None:
            if task is not None and task not in self._keys:
                self._missed(c, task)
            return None
        outputs, stored = row
        if not self._intact(c, key, outputs, stored, task):
            return None
        self._remember(key, outputs)
        return outputs

    def _intact(self, c: sqlite3.Connection, key: str, outputs: str, stored: str, task: str | None = None) -> bool:
        """Whether a row's outputs match their digest; a damaged row is deleted (the caller
        holds ``_lock``)."""
        if digest(outputs) == stored:
            return True
        logger.warning("cache entry %s is damaged (digest mismatch); recomputing", key[:12])
        c.execute("DELETE FROM entries WHERE key=?", (key,))
        if task is not None and task in self._keys:
            self._keys[task].discard(key)
        return False

    def _fresh(self, key: str, oldest: float) -> str | None:
        """The outputs under ``key`` if its entry was made at ``oldest`` (a time) or later."""
        pending = self._pending.get(key) or self._flushing.get(key)
        if pending is not None and pending[3] >= oldest:
            return pending[2]

        def read(c: sqlite3.Connection) -> str | None:
            sql = "SELECT outputs, digest, created_at FROM entries WHERE key=?"
            row = c.execute(sql, (key,)).fetchone()
            if row is None or row[2] < oldest or not self._intact(c, key, row[0], row[1]):
                return None
            return row[0]

        return self._run(read)

    def _missed(self, c: sqlite3.Connection, task: str) -> None:
        """A miss of ``task`` that read its row (the caller holds ``_lock``, and ``_version``
        was read before the read): after enough of them, read all of its keys (see
        :data:`MISSES_BEFORE_KEYS`), kept under that same version."""
        misses = self._misses[task] = self._misses.get(task, 0) + 1
        if misses < max(MISSES_BEFORE_KEYS, self._keys_read.get(task, 0) // KEYS_PER_MISS):
            return
        rows = c.execute("SELECT key FROM entries WHERE task=? LIMIT ?", (task, KEYS_MAX + 1)).fetchall()
        self._keys_read[task] = len(rows)
        if len(rows) <= KEYS_MAX:
            self._keys[task] = {row[0] for row in rows}

    def put(self, key: str, task: str, version: str, outputs: str) -> None:
        """Store (or replace) an entry and drop its reservation, in one transaction."""

        def write(c: sqlite3.Connection) -> None:
            c.execute("BEGIN IMMEDIATE")
            if self._version is None:  # read before the write: the entry is kept under it
                self._unchanged(c)
            c.execute(
                "INSERT OR REPLACE INTO entries (key, task, version, created_at, outputs, digest) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (key, task, version, time.time(), outputs, digest(outputs)),
            )
            c.execute("DELETE FROM reservations WHERE key=?", (key,))
            c.execute("COMMIT")
            self._remember(key, outputs)
            self._wrote(task, key)

        self._run(write)

    def put_later(self, key: str, task: str, version: str, outputs: str) -> None:
        """Store an entry with the next batch: a one-row commit costs several times a row of a
        batched one. This process reads it at once (:meth:`get`); others once it is committed,
        after :data:`BATCH_ROWS` entries or :data:`BATCH_SECONDS` (by the committer thread,
        while the calls go on), or by :meth:`flush` (the end of every run)."""
        if self.closed:  # retired (another state root): no committer, nor the exit, commits it
            self.put(key, task, version, outputs)
            return
        now = time.time()
        with self._held:
            pending = self._pending
            if not pending:
                self._pending_since = now
            pending[key] = (task, version, outputs, now)
            due = not self._handed and len(pending) >= BATCH_ROWS
            if due:
                self._handed = True
            wake = due or self._idle  # (read after the entry is in: see _commit_loop)
            if wake:
                self._idle = False  # (once: not for every entry until the committer runs)
        if wake:
            self._hand_over()

    def _hand_over(self) -> None:
        """Wake the committer thread, starting it if there is none. SQLite's share of an entry
        (its key's place in the index, the pages the commit writes: it grows with the cache, see
        benchmarks/cache_writes.py) then runs beside the calls, not in their thread: a batch is
        one statement, during which SQLite runs without the GIL."""
        committer = self._committer
        if committer is None or not committer.is_alive():  # (none yet, or this is a forked child)
            with self._held:
                committer = self._committer
                if committer is None or not committer.is_alive():
                    committer = threading.Thread(target=self._commit_loop, name="flyte-cache-commit", daemon=True)
                    self._committer = committer
                    committer.start()
        self._due.set()

    def _until_due(self) -> float | None:
        """Seconds until the held entries are due (0: now; None: nothing held)."""
        if self._handed or self.closed:
            return 0.0
        if not self._pending:
            return None
        return max(0.0, self._pending_since + BATCH_SECONDS - time.time())

    def _commit_loop(self) -> None:
        while True:
            # No lock: _idle is set before the entries are looked at, and put_later looks at
            # _idle after its entry is in. Either this sees the entry (and waits with a
            # timeout), or put_later sees _idle and sets _due after the clear below.
            self._due.clear()
            self._idle = True
            wait = self._until_due()
            if wait is not None:
                self._idle = False
            if wait != 0.0:  # a wait with a timeout: a lone entry is due on its own
                self._due.wait(wait)
                continue
            if self.closed:
                return
            try:
                self.flush()
            except CacheError as exc:  # its entries are held again: the next flush retries them
                logger.warning("%s; the entries are kept and committed later", exc)

    def flush(self) -> None:
        """Commit the entries :meth:`put_later` holds, in one transaction; if the committer
        thread is committing a batch, wait for it first. An entry that cannot be committed
        (the cache file stayed locked: :class:`~flyte.errors.CacheError`) is held again."""
        with self._flush_lock:
            with self._held:
                pending = self._pending
                self._handed = False
                if not pending:
                    return
                # New dicts, each in place before the other is changed: a lookup (reading both
                # without a lock, _pending first) finds an entry in one or the other throughout.
                self._flushing = {**self._flushing, **pending}
                self._pending = {}
            committed = False
            try:
                self._commit(pending)
                committed = True
            finally:
                with self._held:
                    if not committed:  # held again, under any newer entry of the same key; also
                        # left in _flushing (a lookup between the two reads finds it in one), which
                        # the flush that commits them empties. The committer tries again a batch's
                        # age later, not at once.
                        self._pending = {**pending, **self._pending}
                        self._pending_since = time.time()
                    elif len(self._flushing) == len(pending):  # (it holds this batch's keys: all go)
                        self._flushing = {}
                    else:  # (by key: one left by a failed flush is older than this batch's)
                        self._flushing = {k: v for k, v in self._flushing.items() if k not in pending}

    def flush_or_keep(self) -> bool:
        """:meth:`flush`, where a cache file that stayed locked (another process held its write
        lock past :data:`BUSY_TIMEOUT`) is a warning, not an error: the entries stay held, and
        answered in this process, for the next flush. Whether every entry is committed."""
        try:
            self.flush()
        except CacheError as exc:
            held = len(self._pending)
            warnings.warn(
                f"{exc}; {held} cache {'entry is' if held == 1 else 'entries are'} kept in this "
                "process and committed later (at the latest when it exits)",
                CacheWarning,
                stacklevel=2,
            )
            return False
        return True

    def _commit(self, pending: dict[str, tuple[str, str, str, float]]) -> None:
        # In key order: the rows then reach the key's index page after page, not at random
        # (each page read and changed once per batch; a third less SQLite work per entry).
        # The keys sorted alone: str comparisons (CPython's sort compares them directly), ~8x
        # faster than sorting the (key, entry) items, whose tuple comparisons go through the
        # generic rich comparison (~0.5 µs an entry at 512).
        params: list[Any] = []
        extend = params.extend
        for key in sorted(pending):
            task, version, outputs, at = pending[key]
            extend((key, task, version, at, outputs, digest(outputs)))

        def write(c: sqlite3.Connection) -> None:
            c.execute("BEGIN IMMEDIATE")
            if self._version is None:  # read before the write: the entries are kept under it
                self._unchanged(c)
            # A few statements of many rows each, not one per row (executemany): SQLite runs a
            # statement without the GIL, and a thread taking the GIL back after each row would
            # wait for the calls' thread every time. Of a few sizes only (_chunks), so each is
            # compiled once per connection (the sqlite3 module keeps them by their text): a
            # statement of its own for every batch's size cost more to compile than to run.
            first = 0
            for rows in _chunks(len(pending), self._statement_rows):
                c.execute(_insert_sql(rows), params[first : first + 6 * rows])
                first += 6 * rows
            # Reservations exist only while a serialize=True call runs: one statement checks.
            if c.execute("SELECT EXISTS (SELECT 1 FROM reservations)").fetchone()[0]:
                c.executemany("DELETE FROM reservations WHERE key=?", [(key,) for key in pending])
            c.execute("COMMIT")
            self._remember_all(pending)

        self._run(write)

    def entries(self, task: str | None = None) -> list[tuple[str, str, str, float, int]]:
        self.flush()
        sql = "SELECT key, task, version, created_at, LENGTH(outputs) FROM entries"
        args: tuple[Any, ...] = ()
        if task:
            sql += " WHERE task=?"
            args = (task,)
        return self._run(lambda c: c.execute(sql + " ORDER BY created_at", args).fetchall(), [])

    def clear(self, task: str | None = None) -> int:
        self.flush()

        def delete(c: sqlite3.Connection) -> int:
            self._forget()  # the known entries do not say their task
            if task:
                return c.execute("DELETE FROM entries WHERE task=?", (task,)).rowcount
            return c.execute("DELETE FROM entries").rowcount

        return self._run(delete, 0)

    # -- reservations (serialize=True) -------------------------------------------------------
    def try_reserve(self, key: str, owner: str, max_age: timedelta | None = None) -> tuple[bool, str | None]:
        """(reserved, outputs): outputs when an entry already exists (no older than
        ``max_age``, when one is given), else whether we now hold the reservation (taking over
        an abandoned one)."""
        oldest = time.time() - max_age.total_seconds() if max_age else None

        def attempt(c: sqlite3.Connection) -> tuple[bool, str | None]:
            c.execute("BEGIN IMMEDIATE")
            try:
                row = c.execute("SELECT outputs, digest, created_at FROM entries WHERE key=?", (key,)).fetchone()
                if row is not None and digest(row[0]) == row[1] and (oldest is None or row[2] >= oldest):
                    return False, row[0]
                held = c.execute(
                    "SELECT owner, host, pid, pid_start, heartbeat FROM reservations WHERE key=?", (key,)
                ).fetchone()
                if held is not None and held[0] != owner and not self._abandoned(*held[1:]):
                    return False, None
                c.execute(
                    "INSERT OR REPLACE INTO reservations (key, owner, host, pid, pid_start, heartbeat) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (key, owner, self._host, self._pid, self._pid_start, time.time()),
                )
                return True, None
            finally:
                c.execute("COMMIT")

        return self._run(attempt, (True, None))

    def _abandoned(self, host: str, pid: int, pid_start: str | None, heartbeat: float) -> bool:
        if time.time() - heartbeat > RESERVATION_TTL:
            return True
        if host == self._host:
            start = process_start(pid)
            return start is None or (pid_start not in (None, "?") and start not in ("?", pid_start))
        return False

    def heartbeat(self, key: str, owner: str) -> None:
        self._run(
            lambda c: c.execute(
                "UPDATE reservations SET heartbeat=? WHERE key=? AND owner=?", (time.time(), key, owner)
            )
        )

    def release(self, key: str, owner: str) -> None:
        self._run(lambda c: c.execute("DELETE FROM reservations WHERE key=? AND owner=?", (key, owner)))


class CacheWarning(UserWarning):
    """The local cache could not be used; tasks run without it."""


_store: CacheStore | None = None
_store_home: str | None = None
_store_lock = threading.Lock()


def get_store() -> CacheStore:
    """This process's cache store for the current state root.

    Called for every cached action, so the path (a few stats and a mkdir check) is only
    worked out again when ``FLYTE_HOME`` changes.
    """
    global _store, _store_home
    home = os.environ.get("FLYTE_HOME", "")
    store = _store
    if store is not None and _store_home == home:
        return store
    with _store_lock:
        path = state_path("local-cache") / "cache.db"
        if _store is None or _store.path != path:
            if _store is not None:  # another state root: its connection is not kept open
                _retire(_store)  # (a run still using it reopens it on its next call)
            _store = CacheStore(path)
        _store_home = home
        return _store


# Handles closed with entries they could not commit (their file stayed locked): the exit
# commits them, each to its own state root.
_unstored: list[CacheStore] = []


def _retire(store: CacheStore) -> None:
    if not store.close():
        _unstored.append(store)


# Handles a forked child inherited: kept, never used nor closed there (closing one would act
# on SQLite state that is its parent's).
_inherited: list[CacheStore] = []


def _forked() -> None:
    """In a forked child: the parent's handle is not this process's (its connection must not
    cross fork, and a lock a thread of the parent held at the fork would never be released),
    so the child's first cached call opens its own, as the run store does."""
    global _store, _store_home, _store_lock
    _inherited.extend(_unstored)
    if _store is not None:
        _inherited.append(_store)
    _unstored.clear()
    _store, _store_home, _store_lock = None, None, threading.Lock()


os.register_at_fork(after_in_child=_forked)


@atexit.register
def _flush_at_exit() -> None:
    """Commit what is still held when the process ends: entries put outside any run, or kept
    after a flush found the file locked (the committer is a daemon thread: it ends with the
    process, and commits only full or old batches)."""
    for store in (*_unstored, _store):  # (a forked child's are its own: see _forked)
        # _flushing too: the committer's batch under way, no longer held, which its flush
        # lock makes this one wait for (a daemon thread ends mid-transaction at the exit).
        if store is None or not (store._pending or store._flushing):
            continue
        try:
            store.flush()
        except CacheError as exc:
            held = len(store._pending)
            warnings.warn(
                f"{exc}; {held} cache {'entry' if held == 1 else 'entries'} of this process "
                f"{'was' if held == 1 else 'were'} not stored (the tasks run again next time)",
                CacheWarning,
                stacklevel=1,
            )


def reset_store() -> None:
    """Forget this process's cache handle (after the file was removed or replaced)."""
    global _store, _store_home
    with _store_lock:
        if _store is not None:
            _retire(_store)
        _store, _store_home = None, None
