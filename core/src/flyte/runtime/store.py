"""The run store: every run and action, in SQLite under ``<state root>/runs.db``.

This module holds every SQL statement on that database (runs, actions, attempts, deployments,
triggers, connector jobs, cluster objects), its schema and the steps that migrate older stores
(:data:`MIGRATIONS`), and mints action ids (:func:`action_id`, read back by
:func:`action_number`); other modules call the functions below, never SQL of their own
(tests/core/test_run_store_sql.py keeps it so).

Writes go through one background thread that commits in batches, so recording an action costs
a queue put, not a synchronous commit; :meth:`RunStore.flush` commits everything queued.
Readers (``flyte runs``, :mod:`flyte.remote`) open their own connection and see committed
state. A run records its process id and that process's start time; a run still marked running
whose process is gone is reported as ``ABORTED``.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from itertools import chain
from pathlib import Path
from typing import Any

from flyte._home import checked_root, private_file, state_root
from flyte._sqlite import use_wal
from flyte.errors import StateError
from flyte.runtime import written
from flyte.runtime.redact import redact
from flyte.runtime.written import WrittenRun

logger = logging.getLogger("flyte.runtime.store")

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    name TEXT PRIMARY KEY,
    task TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at REAL NOT NULL,
    ended_at REAL,
    host TEXT,
    pid INTEGER,
    pid_start TEXT,
    inputs TEXT,
    outputs TEXT,
    error TEXT,
    report TEXT
);
CREATE TABLE IF NOT EXISTS actions (
    run TEXT NOT NULL,
    id TEXT NOT NULL,
    parent TEXT,
    task TEXT NOT NULL,
    short_name TEXT,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    cache TEXT,
    queued_at REAL,
    started_at REAL,
    ended_at REAL,
    error TEXT,
    inputs TEXT,
    outputs TEXT,
    report TEXT,
    grp TEXT,
    worker TEXT,
    PRIMARY KEY (run, id)
);
CREATE TABLE IF NOT EXISTS deployments (
    env TEXT NOT NULL,
    task TEXT NOT NULL,
    version TEXT NOT NULL,
    triggers TEXT,
    spec TEXT,
    backend TEXT NOT NULL,
    deployed_at REAL NOT NULL,
    PRIMARY KEY (task, version)
);
CREATE TABLE IF NOT EXISTS triggers (
    task TEXT NOT NULL,
    name TEXT NOT NULL,
    file TEXT,
    schedule TEXT,
    active INTEGER NOT NULL,
    activated_at REAL,
    last_fired REAL,
    deployed_at REAL NOT NULL,
    PRIMARY KEY (task, name)
);
-- Remote work started by connector tasks (one row per attempt): what `flyte runs show` names
-- and `flyte runs cancel` cancels. `task` is the task's spec as JSON (secret names, never values).
CREATE TABLE IF NOT EXISTS connector_jobs (
    run TEXT NOT NULL,
    action TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    connector TEXT NOT NULL,
    task TEXT NOT NULL,
    project TEXT,
    domain TEXT,
    metadata TEXT NOT NULL,
    state TEXT NOT NULL,
    message TEXT,
    log_links TEXT,
    created_at REAL NOT NULL,
    ended_at REAL,
    PRIMARY KEY (run, action, attempt)
);
CREATE INDEX IF NOT EXISTS runs_by_created ON runs (created_at);
"""

# The objects a run on a cluster submitted (one action each), where they are and the YAML kept
# of each (``manifest``: its path under the run's folder); ``status`` is the object's status as
# last seen (JSON).
CLUSTER_OBJECTS = """
CREATE TABLE IF NOT EXISTS cluster_objects (
    run TEXT NOT NULL,
    action TEXT NOT NULL,
    context TEXT,
    namespace TEXT NOT NULL,
    api_version TEXT NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    manifest TEXT NOT NULL,
    pods TEXT,
    status TEXT,
    PRIMARY KEY (run, action)
)
"""

# Per-attempt records (flyte.runtime.attempts): one row per attempt that ended, written once.
ATTEMPTS = """
CREATE TABLE IF NOT EXISTS attempts (
    run TEXT NOT NULL,
    action TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    started_at REAL,
    ended_at REAL NOT NULL,
    outcome TEXT NOT NULL,
    error_type TEXT,
    message TEXT,
    traceback TEXT,
    worker TEXT,
    log_path TEXT,
    PRIMARY KEY (run, action, attempt)
);
-- The UI's action tree: an action's children, grouped by task (flyte.ui.queries.action_tree).
CREATE INDEX IF NOT EXISTS actions_by_parent ON actions (run, parent);
"""

# Columns added with the attempts table: an action's cache key, a run's heartbeat and trigger.
ATTEMPT_COLUMNS = {
    "actions": {"cache_key": "TEXT"},
    "runs": {"last_seen": "REAL", "trigger": "TEXT"},
}

# An action's number (``a7`` is 7): its creation order, written with the action (see
# :func:`action_number`); actions of a store from before the column get it from their id, once.
# `flyte runs show` reads a run's actions of one phase in creation order through the index.
# (No trigger numbers rows inserted without it, by a flyte from before the column still writing
# to a migrated store: it would cost every insert about a quarter more; such rows list first.)
NUMBERED_ACTIONS = """
UPDATE actions SET number = CAST(SUBSTR(id, 2) AS INTEGER) WHERE number IS NULL;
DROP INDEX IF EXISTS actions_by_run_status;
CREATE INDEX actions_by_run_status ON actions (run, status, number);
"""

# The outcome of each flyte.notify notification of a run (flyte.runtime.notifications): what
# it went to as it may be shown (a webhook's scheme and host, never its path or a header value).
NOTIFICATIONS = """
CREATE TABLE IF NOT EXISTS notifications (
    run TEXT NOT NULL,
    number INTEGER NOT NULL,
    kind TEXT NOT NULL,
    target TEXT NOT NULL,
    phase TEXT NOT NULL,
    outcome TEXT NOT NULL,
    detail TEXT,
    at REAL NOT NULL,
    PRIMARY KEY (run, number)
)
"""

RUNNING = "RUNNING"
QUEUED = "QUEUED"
SUCCEEDED = "SUCCEEDED"
FAILED = "FAILED"
ABORTED = "ABORTED"
RETRYING = "RETRYING"
TERMINAL = {SUCCEEDED, FAILED, ABORTED}

# Previews kept in the store; the full values stay with the caller.
PREVIEW_CHARS = 2000
# How often the writer commits what changed (a crash loses at most this much of a run's record).
WRITE_INTERVAL = 0.05
# Looks in a row that found nothing before the writer sleeps until woken (1 s at WRITE_INTERVAL).
IDLE_POLLS = 20
# Actions changed and not yet written beyond which the caller waits for the writer to write
# them: a burst of actions on a busy loop outruns the writer, and each waiting record holds ~1 KB.
MAX_PENDING = 4096
# New actions inserted by one statement (store._grouped): past ~50 the saving per row levels off.
ROWS_PER_INSERT = 50
_HOST = socket.gethostname()
# A run's row as RunStore.create_run inserts it; end_run fills in its end while the insert waits.
_RUN_COLUMNS = ("name", "task", "status", "created_at", "host", "pid", "pid_start", "inputs", "backend")
_RUN_COLUMNS += ("ended_at", "outputs", "error", "report")
_BACKEND = _RUN_COLUMNS.index("backend")
_INSERT_RUN = f"INSERT INTO runs ({', '.join(_RUN_COLUMNS)}) VALUES ({', '.join('?' * len(_RUN_COLUMNS))})"


# The INSERT of a run's row without its NULL columns, by which of its values are given.
_run_inserts: dict[tuple[bool, ...], str] = {}


def _run_insert(row: list[Any]) -> tuple[str, list[Any]]:
    """The INSERT of a run's ``row`` (create_run's list) that leaves its None values out:
    sqlite3 tries to adapt each None bound, a failed attribute lookup that formats an error
    (~3.5k instructions; a short run binds three or four), and a column left out is NULL
    (the runs table has no other default)."""
    given = tuple(value is not None for value in row)
    sql = _run_inserts.get(given)
    if sql is None:
        names = [name for name, present in zip(_RUN_COLUMNS, given, strict=True) if present]
        sql = _run_inserts[given] = f"INSERT INTO runs ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"
    return sql, [value for value in row if value is not None]


def db_path() -> Path:
    root = state_root()
    path = _db_paths.get(root)
    if path is None:  # a Path join costs more than the dict lookup, and every run asks
        path = _db_paths[root] = root / "runs.db"
    return path


_db_paths: dict[Path, Path] = {}  # state root -> its run store


def connect(path: Path | None = None) -> sqlite3.Connection:
    path = private_file(path or db_path())
    conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    try:
        use_wal(conn)  # with retries: processes opening one new file at once
        conn.execute("PRAGMA synchronous=NORMAL")
        if conn.execute("PRAGMA user_version").fetchone()[0] < len(MIGRATIONS):
            _migrate(conn)
    except sqlite3.DatabaseError as exc:
        conn.close()
        if not is_corruption(exc):
            raise
        raise damaged(path, exc) from exc
    conn.row_factory = sqlite3.Row
    return conn


def damaged(path: Path, exc: sqlite3.DatabaseError) -> StateError:
    return StateError(
        f"the run store {path} is damaged ({exc}); move it aside to start a new one "
        f"(mv {path} {path}.damaged): runs recorded in it will no longer be listed"
    )


def is_corruption(exc: sqlite3.DatabaseError) -> bool:
    """Whether SQLite says the file is not a database or is malformed (not merely busy)."""
    name = getattr(exc, "sqlite_errorname", "")
    if name:
        return name in ("SQLITE_NOTADB", "SQLITE_CORRUPT")
    return not isinstance(exc, sqlite3.OperationalError)  # Python 3.10: no error names


def _add_column(table: str, column: str, declaration: str) -> Callable[[sqlite3.Connection], None]:
    def step(conn: sqlite3.Connection) -> None:
        if column not in {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")

    return step


def _create_table(sql: str) -> Callable[[sqlite3.Connection], None]:
    def step(conn: sqlite3.Connection) -> None:
        conn.execute(sql)

    return step


def _statements(script: str) -> Callable[[sqlite3.Connection], None]:
    """A step running ``script``'s statements one by one (not ``executescript``, which would
    commit the migration's transaction)."""

    def step(conn: sqlite3.Connection) -> None:
        statement = ""
        for line in script.splitlines(keepends=True):
            statement += line
            if sqlite3.complete_statement(statement):  # a ";" inside a literal or a comment ends nothing
                conn.execute(statement)
                statement = ""
        if statement.strip():
            raise ValueError(f"an incomplete statement ends the script: {statement.strip()!r}")

    return step


_create_schema = _statements(SCHEMA)


def _attempts_schema(conn: sqlite3.Connection) -> None:
    """The attempts table and index, and the columns that came with them."""
    _statements(ATTEMPTS)(conn)
    for table, columns in ATTEMPT_COLUMNS.items():
        for name, kind in columns.items():
            _add_column(table, name, kind)(conn)


def _deployed_sources(conn: sqlite3.Connection) -> None:
    """The source file of each deployed task and the sha256 of its bytes at deploy time."""
    _add_column("deployments", "file", "TEXT")(conn)
    _add_column("deployments", "file_digest", "TEXT")(conn)


def _number_actions(conn: sqlite3.Connection) -> None:
    """The ``number`` column (:data:`NUMBERED_ACTIONS`), filled in for the actions already there."""
    _add_column("actions", "number", "INTEGER")(conn)
    _statements(NUMBERED_ACTIONS)(conn)


# No query reads actions by task alone (runs are listed by task), and every action's insert
# paid for keeping this index.
_drop_unread_indexes = _statements("DROP INDEX IF EXISTS actions_by_task;")

# The store's schema, one step per version (``PRAGMA user_version`` is how many have run).
# A store written by an older version goes through the steps it has not seen, once, on first
# open; steps add tables, columns and indexes (or drop an index nothing reads), so older readers
# keep working. To extend the store (a column per action, a table of attempts), append a step.
MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (
    _create_schema,  # stores from before versioning already have it: every statement is IF NOT EXISTS
    _add_column("actions", "grp", "TEXT"),
    _add_column("actions", "worker", "TEXT"),  # the pool worker that ran it (reusable environments)
    _attempts_schema,  # per-attempt records, and the columns they add to runs and actions
    _add_column("runs", "backend", "TEXT"),  # where it ran: NULL (this machine) or "kubernetes"
    _create_table(CLUSTER_OBJECTS),
    _number_actions,  # creation order as a column, not parsed from the id
    _drop_unread_indexes,
    _create_table(NOTIFICATIONS),  # each notification's outcome (flyte.notify)
    _add_column("runs", "abort_requested", "TEXT"),  # why another process asked it to stop (flyte abort)
    _deployed_sources,  # where each deployed task's code is, and its digest (flyte.remote.Task.get)
)


def _migrate(conn: sqlite3.Connection) -> None:
    """Bring the store up to the current schema, under the write lock (several processes may
    open an old store at once: the first migrates it, the others see it done)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        for step in MIGRATIONS[version:]:
            step(conn)
        conn.execute(f"PRAGMA user_version = {len(MIGRATIONS)}")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def process_start(pid: int) -> str | None:
    """The kernel's start time of a process (guards against a reused pid); None if gone."""
    if pid == os.getpid():  # this process's never changes: read it once
        if _own_start[0] != pid:
            _own_start[:] = [pid, _read_process_start(pid)]
        return _own_start[1]
    return _read_process_start(pid)


_own_start: list[Any] = [None, None]


def _read_process_start(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return "?"
        return "?"


def preview(text: str | None) -> str | None:
    """What the store keeps of an encoded value (inputs, outputs, an error): its first
    :data:`PREVIEW_CHARS` characters, secret values masked (before the cut, so no part of one
    is kept). The caller keeps the value itself."""
    if text is None:
        return None
    text = redact(text)
    if len(text) <= PREVIEW_CHARS:
        return text
    return text[:PREVIEW_CHARS] + "…"


class RunStore:
    """The writer side of the store: callers change records in memory; one thread writes them.

    An action is one mutable record (a dict of its changed columns) until the writer takes
    it: its creation and every later change before then end up in one row write. Callers never
    wake the writer per change (a wake-up costs a GIL hand-off, and on a busy machine a wait
    for the scheduler): while the process records, the writer looks every
    :data:`WRITE_INTERVAL` seconds and writes everything that changed meanwhile in one
    transaction; after :data:`IDLE_POLLS` empty looks it sleeps, and the first change after
    that wakes it. :meth:`flush` commits what is pending on the caller's own thread. One writer
    per store serves every run of the process (:func:`writer`).
    """

    def __init__(self, path: Path | None = None):
        self.path = path or db_path()
        self._lock = threading.Lock()
        # The actions' records until the writer takes them: those created here, run -> {action
        # id -> {column: value}}, and changes to rows written before, (run, action id) -> {column:
        # value}. No container per record but its dict (see _Pending).
        self._actions = _Pending()
        self._statements: list[tuple[str, Sequence[Any]]] = []  # other tables, in order
        # The rows of runs created here whose insert is among _statements still: name -> its values.
        self._unwritten_runs: dict[str, list[Any]] = {}
        self._waiters: list[threading.Event] = []
        # True while the writer sleeps until a change wakes it; it starts out looking on its
        # own (a run is about to record).
        self._idle = False
        self._work = threading.Event()  # something to write
        self._now = threading.Event()  # someone waits: write without waiting out the interval
        self._stopping = False
        self._closed = False
        self._conn = connect(self.path)
        self._conn_lock = threading.Lock()  # the writer's commits, and reads through read()
        # The runs' and actions' columns (flyte.runtime.written), read at the first flush that needs them.
        self._columns: tuple[written.Table, written.Table] | None = None
        self._thread = threading.Thread(target=self._write_loop, name="flyte-run-store", daemon=True)
        self._thread.start()

    # -- the write API (non-blocking) -------------------------------------------------------
    def _queue(self, sql: str, params: tuple[Any, ...]) -> None:
        """Queue one statement for the writer (private: every statement lives in this module)."""
        with self._lock:
            self._statements.append((sql, params))
            wake, self._idle = self._idle, False
        if wake:
            self._work.set()

    def create_run(self, name: str, task: str, inputs: str | None, backend: str | None = None) -> float:
        """Record a run that starts now in this process (``backend``: None for this machine,
        ``"kubernetes"`` for a run whose objects this process submitted and follows); the time
        recorded as its start."""
        pid, created_at = os.getpid(), time.time()
        # A list: until the writer takes it, the run's end is written into it (see end_run).
        row = [name, task, RUNNING, created_at, _HOST, pid, process_start(pid), preview(inputs), backend]
        row += [None, None, None, None]  # ended_at, outputs, error, report
        with self._lock:
            self._statements.append((_INSERT_RUN, row))
            self._unwritten_runs[name] = row
            wake, self._idle = self._idle, False
        if wake:
            self._work.set()
        return created_at

    def end_run(
        self, name: str, status: str, outputs: str | None = None, error: str | None = None, report: str | None = None
    ) -> float:
        """Record the end of run ``name``; the time recorded as its end."""
        ended_at, outputs = time.time(), preview(outputs)
        with self._lock:
            row = self._unwritten_runs.pop(name, None)
            if row is not None:  # a short run: its row is written once, ended (one statement, not two)
                row[2] = status
                row[9:] = [ended_at, outputs, error, report]
                return ended_at
        self._queue(
            "UPDATE runs SET status=?, ended_at=?, outputs=?, error=?, report=COALESCE(?, report) WHERE name=?",
            (status, ended_at, outputs, error, report, name),
        )
        return ended_at

    def set_run_trigger(self, name: str, trigger: str) -> None:
        """Record the trigger that started run ``name``."""
        self._queue("UPDATE runs SET trigger=? WHERE name=?", (trigger, name))

    def record_notification(
        self, run: str, number: int, *, kind: str, target: str, phase: str, outcome: str, detail: str, at: float
    ) -> None:
        """Record the outcome of notification ``number`` of ``run`` (flyte.runtime.notifications)."""
        self._queue(
            "INSERT OR REPLACE INTO notifications (run, number, kind, target, phase, outcome, detail, at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (run, number, kind, target, phase, outcome, detail, at),
        )

    def heartbeat(self, name: str) -> None:
        """Record that run ``name`` is alive now (what it ended at, if its process dies)."""
        self._queue("UPDATE runs SET last_seen=? WHERE name=?", (time.time(), name))

    def abort_unfinished(self, run: str, error: str) -> None:
        """Record every action of ``run`` that has not ended as ABORTED, with ``error``."""
        self._queue(
            "UPDATE actions SET status=?, ended_at=COALESCE(ended_at, ?), error=COALESCE(error, ?) "
            "WHERE run=? AND status NOT IN (?, ?, ?)",
            (ABORTED, time.time(), error, run, *TERMINAL),
        )

    # ``run`` and ``action`` are positional-only in both: CPython matches each keyword of a call
    # against the named parameters, by identity and then by ``==``; a column (caught by
    # ``**fields``) matches none, so each one cost a string comparison per named parameter
    # (~5k instructions per child call, more than the rest of the change in memory).
    def create_action(self, run: str, action: str, /, **fields: Any) -> None:
        """Record a new action ``action`` (an id from :func:`action_id`) of ``run`` with its
        columns; its number (creation order) is written with it: ``number=`` when the caller
        has it (the one the id was made from), else read back from the id."""
        self.create_action_record(run, action, fields, not _NO_NONE.isdisjoint(fields.values()))

    def create_action_record(self, run: str, action: str, record: dict[str, Any], nones: bool = False) -> None:
        """:meth:`create_action` with the columns in a dict, which the store keeps (the caller
        leaves it alone): no keywords to match and pack, for a record made whole at once.
        ``nones``: whether a value may be None; the caller that says False leaves a NULL column
        out instead, which spares the writer looking for them (see :func:`_grouped`)."""
        if "number" not in record:
            record["number"] = action_number(action)
        with self._lock:
            pending = self._actions
            new = pending.new.get(run)
            if new is None:
                new = pending.new[run] = {}
            if pending.changes:  # (a change waiting for a row this creation replaces)
                pending.changes.pop((run, action), None)
            new[action] = record
            if nones:
                pending.nones.add((run, action))
            pending.count += 1
            wake, self._idle = self._idle, False
            full = pending.count >= MAX_PENDING
        if wake or full:  # rarely: no call per change otherwise
            self._changed(wake, full)

    def update_action(self, run: str, action: str, /, **fields: Any) -> None:
        """Record changes to the columns of action ``action`` of ``run``."""
        self.update_action_record(run, action, fields, not _NO_NONE.isdisjoint(fields.values()))

    def update_action_record(self, run: str, action: str, fields: dict[str, Any], nones: bool = False) -> None:
        """:meth:`update_action` with the changed columns in a dict, which the store keeps (the
        caller leaves it alone): no keywords to match and pack, for the common end of an action.
        ``nones`` as for :meth:`create_action_record`."""
        with self._lock:
            pending = self._actions
            new = pending.new.get(run)
            record = None if new is None else new.get(action)
            if record is None:  # its row was written (or is being): an UPDATE
                key = (run, action)
                record = pending.changes.get(key)
                if record is None:
                    pending.changes[key] = fields
                    pending.count += 1
                else:
                    record.update(fields)
                if nones:
                    pending.nones.add(key)
            else:
                record.update(fields)
                if nones:
                    pending.nones.add((run, action))
            wake, self._idle = self._idle, False
            full = pending.count >= MAX_PENDING
        if wake or full:
            self._changed(wake, full)

    def _changed(self, wake: bool, full: bool) -> None:
        if wake:
            self._work.set()
        if full:  # the writer is behind: wait for it, so the backlog stays bounded
            self._wait_for_writer()

    def _wait_for_writer(self, timeout: float = 30, stop: bool = False) -> None:
        """Wait until the writer has committed what is pending (``stop``: and then ends). The
        caller does not commit it itself: it may be a task body's thread, which a stopped
        attempt interrupts at any instruction, and an interruption inside a commit would drop
        its records (or leave the connection's lock held)."""
        done = threading.Event()
        with self._lock:
            self._stopping = self._stopping or stop
            self._waiters.append(done)
            self._idle = False
        self._work.set()
        self._now.set()
        done.wait(timeout)

    def read(self, query: Callable[[sqlite3.Connection], Any]) -> Any:
        """``query(connection)`` on the writer's own connection (no new one per read); it sees
        what was committed, so :meth:`flush` first to see this process's latest changes."""
        with self._conn_lock:
            return query(self._conn)

    def flush(self, timeout: float = 30, run: str | None = None, most: int = 0) -> WrittenRun | None:
        """Commit everything recorded so far, on the calling thread.

        The caller writes what is pending itself rather than waking the writer and waiting
        for it: a run's end then costs one commit, not two thread hand-offs (each of which,
        on a busy machine, can wait for a scheduler slice). The writer takes and commits its
        batches under the same lock, so batches commit in the order they were recorded.
        ``timeout``: how long to wait for a commit the writer has under way.

        ``run``: a run of this process that has ended; when this commit wrote its row and all
        of its at most ``most`` actions (nothing of it was taken before, and no other change to
        its rows waits beside them), those rows as the store now holds them
        (:mod:`flyte.runtime.written`), else None."""
        if self._closed:
            return None
        if not self._conn_lock.acquire(timeout=timeout):
            raise StateError(f"the run store {self.path}: its writer held the connection for {timeout:g} s")
        try:
            return self._write_pending(run, most)[1]
        finally:
            self._conn_lock.release()

    def close(self) -> None:
        if self._closed:
            return
        self._wait_for_writer(stop=True)
        self._thread.join(timeout=30)
        self._closed = True

    # -- the writer thread ------------------------------------------------------------------
    def _write_pending(self, run: str | None = None, most: int = 0) -> tuple[bool, WrittenRun | None]:
        """Take what is pending and commit it (the caller holds ``_conn_lock``); whether there
        was anything, and the rows of ``run`` as :meth:`flush` says."""
        with self._lock:
            actions, self._actions = self._actions, _Pending()
            statements, self._statements = self._statements, []
            self._unwritten_runs = {}  # taken: a run that ends from now on is an UPDATE
        if not (actions.count or statements):
            return False, None
        try:
            self._commit(self._conn, actions, statements)
        except Exception as exc:  # keep recording later changes; say what was lost
            logger.error("flyte run store: %d records not written: %s", actions.count + len(statements), exc)
            return True, None
        return True, (self._written(run, actions, statements, most) if run is not None else None)

    def _written(
        self,
        run: str,
        actions: _Pending,
        statements: list[tuple[str, Any]],
        most: int,
    ) -> WrittenRun | None:
        """The rows of ``run`` as the commit of ``actions`` and ``statements`` left them, when
        it inserted the run's row, or None (see :meth:`flush`). Every action of the run was
        created after that insert was queued, so none was taken before it: each is in
        ``actions``, created here, with all its changes merged into one record."""
        row = None
        for sql, params in statements:
            if sql is _INSERT_RUN and params[0] == run:
                row = params
            elif sql.startswith(("UPDATE runs", "UPDATE actions")) and run in params:
                return None  # another change to its rows, in the same commit
        if row is None or row[_BACKEND] is not None:  # not inserted now; or a cluster run, whose page shows its objects
            return None
        if any(owner == run for owner, _ in actions.changes):
            return None  # a change to a row written before
        new = actions.new.get(run, {})
        if len(new) > most:
            return None
        mine = [{**record, "run": run, "id": ident} for ident, record in new.items()]
        if self._columns is None:  # read once per connection: migrations only ever add columns
            try:
                self._columns = (
                    written.Table(written.columns(self._conn.execute("PRAGMA table_info(runs)").fetchall())),
                    written.Table(written.columns(self._conn.execute("PRAGMA table_info(actions)").fetchall())),
                )
            except sqlite3.Error as exc:  # the run is committed: its page reads the store instead
                logger.debug("flyte run store: the tables' columns were not read (%s)", exc)
                return None
        run_columns, action_columns = self._columns
        run_row = written.row(run_columns, dict(zip(_RUN_COLUMNS, row, strict=True)))
        rows = [written.row(action_columns, given) for given in mine]
        if run_row is None or None in rows:
            return None
        rows.sort(key=lambda r: r[CREATION_ORDER])
        return written.WrittenRun(run_row, rows)  # type: ignore[arg-type]

    def _write_loop(self) -> None:
        # While the process records, the writer looks for changes every WRITE_INTERVAL on its
        # own (callers never wake it); after IDLE_POLLS looks that found nothing it sleeps
        # until the next change wakes it (_idle: that change's caller sets _work).
        quiet = 0
        while True:
            if quiet >= IDLE_POLLS:
                self._work.wait()
                self._work.clear()
                quiet = 0
            self._now.wait(WRITE_INTERVAL)  # changes gather into one transaction
            self._now.clear()
            with self._conn_lock:
                with self._lock:  # taken first: what they wait for is in the write that follows
                    waiters, self._waiters = self._waiters, []
                    stop = self._stopping
                wrote = self._write_pending()[0]
            quiet = 0 if wrote else quiet + 1
            if quiet >= IDLE_POLLS:
                with self._lock:  # only with nothing pending or awaited: a change made since wakes it
                    if self._actions.count or self._statements or self._waiters:
                        quiet = 0
                    else:
                        self._idle = True
            for event in waiters:
                event.set()
            if stop and waiters:
                self._conn.close()
                return

    @staticmethod
    def _commit(conn: sqlite3.Connection, actions: _Pending, statements: list[tuple[str, Any]]) -> None:
        grouped = _grouped(actions)
        for attempt in range(20):
            try:
                conn.execute("BEGIN IMMEDIATE")
                for sql, rows in grouped:
                    conn.executemany(sql, rows)
                # After the actions: a run's end and an abort of its unfinished actions see them.
                for sql, params in statements:
                    if sql is _INSERT_RUN:
                        sql, params = _run_insert(params)
                    conn.execute(sql, params)
                conn.execute("COMMIT")
                return
            except sqlite3.OperationalError:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                time.sleep(0.05 * (attempt + 1))  # another process holds the write lock
        raise RuntimeError(f"run store at {conn} stayed locked; records were not written")


_writers: dict[Path, tuple[int, int, RunStore]] = {}
_writers_lock = threading.Lock()
# Runs recording through each writer now (guarded by _writers_lock).
_users: dict[RunStore, int] = {}


def writer() -> RunStore:
    """The process's writer for the current store (one thread and connection for all its
    runs, instead of a new one per run), held for one run until :func:`release`; a new one
    after a fork, or when the file was replaced.

    Writers of other state roots that no run holds are closed here: a process that moves
    between state roots (a test suite with one ``FLYTE_HOME`` per test) keeps a connection
    and a thread only for the roots its runs are using, not one per root it ever used.
    """
    # The writer's file, checked by its inode below: while it is the one this process's writer
    # has open, its root exists as a folder (state_root's stat of the root is not repeated: the
    # run's page checks the root again); anything else goes through db_path's checks.
    root = checked_root()
    known = _db_paths.get(root) if root is not None else None
    path = known or db_path()
    with _writers_lock:
        for other, (pid, _, store) in list(_writers.items()):
            if pid != os.getpid():  # inherited through a fork: its thread is not in this process
                del _writers[other]
                _users.pop(store, None)
            elif other != path and not _users.get(store):
                del _writers[other]
                _users.pop(store, None)
                store.close()
        found = _writers.get(path)
        try:
            inode = os.stat(path).st_ino  # not Path.stat: its layers cost more than the call
        except OSError:
            inode = -1
        if found is not None and found[1] == inode and not found[2]._closed:
            store = found[2]
        else:
            if known is not None:  # not the writer's file: the root is looked at (made again if gone)
                path = db_path()
            store = RunStore(path)
            _writers[path] = (os.getpid(), path.stat().st_ino, store)
        _users[store] = _users.get(store, 0) + 1
        return store


def release(store: RunStore) -> None:
    """The run that got ``store`` from :func:`writer` has ended."""
    with _writers_lock:
        if _users.get(store):
            _users[store] -= 1


# Whether a record's values hold a None: not ``None in fields.values()``, which compares None with
# each value by ``==`` (a str's or a float's comparison with None is three failed attempts); a
# set probes hashes.
_NO_NONE = frozenset([None])


class _Pending:
    """The actions' records a :class:`RunStore` holds until its writer takes them.

    Held in a gather of thousands of calls until the writer's next look, a record is its
    dict of columns alone (untracked by the garbage collector: its values are text and
    numbers), found under its run and then its id: a key tuple and a list of flags per record
    were two more objects the collector counted and, the list, walked: two of the ~8 a
    gathered cache hit left alive. (Each object a call leaves alive brings the next
    collection nearer; a full one walks every object of the process, ~5.5 ms after
    ``flyte.init``: benchmarks/README.md, round 12.)"""

    __slots__ = ("changes", "count", "new", "nones")

    def __init__(self) -> None:
        self.new: dict[str, dict[str, dict[str, Any]]] = {}  # created here: run -> {action id -> columns}
        self.changes: dict[tuple[str, str], dict[str, Any]] = {}  # to rows written before
        self.nones: set[tuple[str, str]] = set()  # (run, action id) of records given a None
        self.count = 0  # records, for MAX_PENDING (a record created twice counts twice)


def _grouped(actions: _Pending) -> list[tuple[str, list[Sequence[Any]]]]:
    """The statements that write ``actions``: one INSERT per action created since the last
    write, one UPDATE per action changed since; rows with the same columns share an
    ``executemany`` (for an INSERT, of statements of several rows each: see below).

    No None is bound: Python's sqlite3 tries to adapt each bound None (a failed attribute
    lookup that raises and formats an AttributeError), ~3.5k instructions apiece, a quarter of
    a row's write. An INSERT leaves NULL columns out; an UPDATE sets them to a literal NULL.
    Only a record given a None is looked through (``actions.nones``, noted when the change
    was recorded, from its few values): the controller's records have none, and scanning each
    whole row here cost about as much as one None bound. (A None bound anyway is a NULL, as
    it should be: this is about speed only.)

    New actions are inserted :data:`ROWS_PER_INSERT` to a statement (``VALUES (...), (...)``):
    SQLite's work per statement run (its setup, its halt and reset, and executemany's step
    per row) was a quarter of a row's write. Their values go straight into one list per set
    of columns, the statements' parameters being slices of it; a row's columns are those of
    the row before it in most writes (the same record, action after action), which a
    comparison of the two tuples of names tells without hashing either. A tuple of each
    row's values, hashing its columns and flattening the rows cost ~7k instructions a row
    (~4.5k now: the names and values read from the dict are most of it)."""
    grouped: dict[tuple[bool, tuple[str, ...], tuple[str, ...]], list[Any]] = {}
    last: tuple[str, ...] = ()  # the columns of the last new row, and its group's values
    values: list[Any] = []
    nones = actions.nones
    for run, new in actions.new.items():
        for ident, fields in new.items():
            bound = fields
            if nones and (run, ident) in nones:
                bound = {column: value for column, value in fields.items() if value is not None}
            columns = tuple(bound)
            if columns != last:  # (the same names: compared by identity, not hashed)
                last, values = columns, grouped.setdefault((True, columns, ()), [])
            values += (run, ident)
            values += bound.values()
    for key, fields in actions.changes.items():
        bound, nulls = fields, ()
        if key in nones:
            bound = {column: value for column, value in fields.items() if value is not None}
            nulls = tuple(c for c in fields if c not in bound)
        grouped.setdefault((False, tuple(bound), nulls), []).append((*bound.values(), *key))
    statements: list[tuple[str, list[Sequence[Any]]]] = []
    for (created, columns, nulls), rows in grouped.items():
        if not created:
            changes = ", ".join([*(f"{c}=?" for c in columns), *(f"{c}=NULL" for c in nulls)])
            statements.append((f"UPDATE actions SET {changes} WHERE run=? AND id=?", rows))
            continue
        width = len(columns) + 2  # values a row: the run, the id and its columns
        count = len(rows) // width
        insert = f"INSERT OR REPLACE INTO actions (run, id{''.join(f', {c}' for c in columns)}) VALUES "
        # Full statements of several rows each, then the rest in statements of the powers of
        # two it is made of (25 rows: 16 + 8 + 1), in order: a writer's look that finds a few
        # rows (a run whose actions come slowly) writes them in a few statements, not one per
        # row, and each size's statement is prepared once per connection (sqlite3's statement
        # cache). SQLite's oldest default allows 999 values in a statement.
        per = max(1, min(ROWS_PER_INSERT, 999 // width))
        if per == 1:  # (rows of 500 columns or more: one statement per row)
            row = f"(?, ?{''.join(', ?' for _ in columns)})"
            statements.append((insert + row, [rows[i : i + width] for i in range(0, len(rows), width)]))
            continue
        start = 0
        while start < count:
            size = per if count - start >= per else 1 << ((count - start).bit_length() - 1)
            sql, params = _rows_statement(insert, width, size, rows[start * width : (start + size) * width])
            if statements and statements[-1][0] == sql:
                statements[-1][1].append(params)
            else:
                statements.append((sql, [params]))
            start += size
    return statements


# The text of the INSERTs _rows_statement made, by (its head, row width, rows, shared columns).
_row_statements: dict[tuple[str, int, int, tuple[int, ...]], str] = {}


def _rows_statement(insert: str, width: int, size: int, values: list[Any]) -> tuple[str, list[Any]]:
    """The INSERT of ``size`` rows of ``width`` values (``values``: row after row) and its
    parameters: a text value every row has (the run, the task, the parent, the status, ...)
    is bound once, as a numbered parameter the rows share. Each value bound costs sqlite3
    ~0.9k instructions; for a gather's 50 hits a statement, 6 of a row's 14 are shared
    (~5k instructions a row less). Only exact str are shared: equal text is the same stored
    value, where 1 and 1.0 (equal in Python) are stored as two."""
    shared = tuple(
        j for j in range(width) if size > 1 and type(values[j]) is str and values[j::width].count(values[j]) == size
    )
    if not shared:
        params = values
    else:
        varying = [values[j::width] for j in range(width) if j not in shared]
        params = [values[j] for j in shared]
        params += chain.from_iterable(zip(*varying, strict=True))
    key = (insert, width, size, shared)
    sql = _row_statements.get(key)
    if sql is None:
        numbers = {j: f"?{n}" for n, j in enumerate(shared, 1)}
        rows = []
        n = len(shared)
        for _ in range(size):
            row = []
            for j in range(width):
                if j not in numbers:
                    n += 1
                row.append(numbers.get(j) or f"?{n}")
            rows.append(f"({', '.join(row)})")
        sql = insert + ", ".join(rows)
        if len(_row_statements) >= 256:  # (a few shapes in practice: never grows without end)
            _row_statements.clear()
        _row_statements[key] = sql
    return sql, params


# -- the read side --------------------------------------------------------------------------


@contextmanager
def reader(path: Path | None = None) -> Iterator[sqlite3.Connection]:
    """A connection for reading; damage found while reading is reported like damage on open.

    Each thread keeps its last reader open for the next one on the same file (opening one
    checks the path, the journal mode and the schema: most of what a small read costs, and a
    run's end reads several times to write its page); a reader used inside another, or on
    another file, is a new connection."""
    path = path or db_path()
    conn = _kept_reader(path)
    if conn is None:
        conn = connect(path)
    keep = True
    try:
        yield conn
    except sqlite3.DatabaseError as exc:
        keep = False
        if is_corruption(exc):
            raise damaged(path, exc) from exc
        raise
    except BaseException:
        keep = False
        raise
    finally:
        if keep and not conn.in_transaction and getattr(_readers, "kept", None) is None:
            _readers.kept = (os.getpid(), path, path.stat().st_ino, conn)
        else:
            conn.close()


_readers = threading.local()  # kept: (pid, path, inode, connection) of this thread's last reader


def _kept_reader(path: Path) -> sqlite3.Connection | None:
    """This thread's kept reader, if it reads ``path`` as the file is now (taken: a reader
    opened inside it gets a connection of its own)."""
    kept = getattr(_readers, "kept", None)
    if kept is None:
        return None
    _readers.kept = None
    pid, kept_path, inode, conn = kept
    if pid != os.getpid():
        return None  # inherited through a fork: never touched here
    try:
        same = kept_path == path and path.stat().st_ino == inode
    except OSError:
        same = False
    if same:
        return conn
    conn.close()  # another state root, or the file was replaced
    return None


@contextmanager
def snapshot(path: Path | None = None) -> Iterator[sqlite3.Connection]:
    """A reader whose queries all see one state of the store (a run may still be writing)."""
    with reader(path) as conn:
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")


def effective_status(row: sqlite3.Row) -> str:
    """A run's status, ``ABORTED`` when it claims to run but its process is gone."""
    status = row["status"]
    if status in TERMINAL or row["host"] != socket.gethostname():
        return status
    start = process_start(row["pid"]) if row["pid"] else None
    if start is None or (row["pid_start"] not in (None, "?") and start not in ("?", row["pid_start"])):
        return ABORTED
    return status


def mark_aborted(conn: sqlite3.Connection, name: str) -> None:
    """Record that a run's process died; its unfinished actions are aborted with it. The run
    ends when it was last seen alive (its heartbeat), not when the death was noticed."""
    conn.execute("BEGIN IMMEDIATE")
    row = conn.execute("SELECT created_at, last_seen, backend FROM runs WHERE name=?", (name,)).fetchone()
    latest = conn.execute(  # a run killed before its first heartbeat: its last recorded event
        "SELECT MAX(MAX(COALESCE(queued_at, 0), COALESCE(started_at, 0), COALESCE(ended_at, 0))) FROM actions "
        "WHERE run=?",
        (name,),
    ).fetchone()[0]
    now = max(row[1] or row[0], latest or 0) if row else time.time()
    conn.execute(
        "UPDATE runs SET status=?, ended_at=?, error=COALESCE(error, ?) WHERE name=? AND status NOT IN (?, ?, ?)",
        (ABORTED, now, _died(name, row[2] if row else None), name, *TERMINAL),
    )
    conn.execute(
        "UPDATE actions SET status=?, ended_at=COALESCE(ended_at, ?) WHERE run=? AND status NOT IN (?, ?, ?)",
        (ABORTED, now, name, *TERMINAL),
    )
    conn.execute("COMMIT")


def request_abort(name: str, reason: str) -> sqlite3.Row | None:
    """Ask run ``name``'s process to stop it, for ``reason`` (flyte.runtime.aborts); the run's
    row as it is now (None: no such run). A run that has ended is left as it is."""
    with reader() as conn:
        conn.execute("UPDATE runs SET abort_requested=? WHERE name=? AND ended_at IS NULL", (reason, name))
        return conn.execute("SELECT * FROM runs WHERE name=?", (name,)).fetchone()


def abort_request(conn: sqlite3.Connection, name: str) -> str | None:
    """Why another process asked to stop run ``name``, or None if nobody did."""
    row = conn.execute("SELECT abort_requested FROM runs WHERE name=?", (name,)).fetchone()
    return None if row is None else row[0]


def _died(name: str, backend: str | None) -> str:
    if backend is None:
        return "the process running this run exited before it finished"
    # Its objects were not deleted: they may still run on the cluster.
    return (
        f"the process following this run on {backend} exited before it finished; its objects may still be "
        f"there (flyte runs show {name} says how to look)"
    )


# Phases, most in need of attention first (`flyte runs show` lists them in this order).
SEVERITY = (FAILED, ABORTED, RETRYING, RUNNING, QUEUED, SUCCEEDED)


def action_id(n: int) -> str:
    """The id of a run's ``n``-th action (from 0): ``a0``, ``a1``, ... (:func:`action_number`
    reads the number back)."""
    return f"a{n}"


def action_number(ident: str) -> int:
    """The number of the action ``ident`` (``a7``: 7), the inverse of :func:`action_id`."""
    digits = ident[1:]
    if ident[:1] != "a" or not digits.isdigit() or not digits.isascii():
        raise ValueError(f"action: {ident!r} is not an action id (a0, a1, ...: 'a' and the action's number)")
    return int(digits)


# Actions in the order they were created (an index of the schema sorts by it).
CREATION_ORDER = "number"


_SEVERITY_RANK = {p: i for i, p in enumerate(SEVERITY)}


def by_severity(phases: Any) -> list[str]:
    """``phases`` in :data:`SEVERITY` order (unknown ones last, by name)."""
    rank, unknown = _SEVERITY_RANK, len(_SEVERITY_RANK)
    return sorted(phases, key=lambda p: (rank.get(p, unknown), p))


def action_rows(
    conn: sqlite3.Connection, run: str, phases: list[str] | None, limit: int, offset: int
) -> sqlite3.Cursor:
    """A cursor over a run's actions in creation order (``phases``: only those; ``limit`` -1:
    all). Rows are fetched as iterated, never all at once."""
    where, params = "run=?", [run]
    if phases is not None:
        where += f" AND status IN ({', '.join('?' for _ in phases)})"
        params += phases
    sql = f"SELECT * FROM actions WHERE {where} ORDER BY {CREATION_ORDER} LIMIT ? OFFSET ?"
    return conn.execute(sql, (*params, limit, offset))


def has_more_actions(conn: sqlite3.Connection, run: str, count: int) -> bool:
    """Whether ``run`` has more than ``count`` actions (read from an index, no row)."""
    return conn.execute("SELECT 1 FROM actions WHERE run=? LIMIT 1 OFFSET ?", (run, count)).fetchone() is not None


def load_json(text: str | None) -> Any:
    return None if text is None else json.loads(text)


# -- connector jobs (flyte.runtime.connectors) ------------------------------------------------


def record_worker(store: RunStore, run: str, action: str, worker: str) -> None:
    """Which worker process runs the action's attempt (``<environment>/<pid>`` for a reusable
    environment's pool); the last attempt's worker is what stays recorded."""
    store.update_action(run, action, worker=worker)


def record_connector_job(store: RunStore, run: str, action: str, attempt: int, **fields: Any) -> None:
    """Queue the record of remote work just created (``connector``, ``task``, ``project``,
    ``domain``, ``metadata``); the caller flushes the store."""
    store._queue(
        "INSERT OR REPLACE INTO connector_jobs (run, action, attempt, connector, task, project, domain, metadata, "
        "state, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            run,
            action,
            attempt,
            fields["connector"],
            fields["task"],
            fields["project"],
            fields["domain"],
            fields["metadata"],
            RUNNING,
            time.time(),
        ),
    )


_JOB_FIELDS = ("state", "message", "log_links", "ended_at")


def update_connector_job(store: RunStore, run: str, action: str, attempt: int, **fields: Any) -> None:
    """Queue a change of a job's ``state``, ``message`` (secret values masked), ``log_links``
    or ``ended_at``."""
    unknown = set(fields) - set(_JOB_FIELDS)
    if unknown:
        raise ValueError(f"connector_jobs has no column(s) {sorted(unknown)}")
    if fields.get("message"):  # the service's words: it may echo a credential it refused
        fields["message"] = redact(fields["message"])
    columns = ", ".join(f"{name}=?" for name in fields)
    store._queue(
        f"UPDATE connector_jobs SET {columns} WHERE run=? AND action=? AND attempt=?",
        (*fields.values(), run, action, attempt),
    )


def connector_jobs(conn: sqlite3.Connection, run: str) -> list[sqlite3.Row]:
    """A run's remote work, in creation order."""
    return conn.execute(
        "SELECT * FROM connector_jobs WHERE run=? ORDER BY created_at, action, attempt", (run,)
    ).fetchall()


def open_connector_jobs(run: str, states: tuple[str, ...]) -> list[sqlite3.Row]:
    """A run's remote work last recorded in one of ``states`` (still live, as far as we know)."""
    with reader() as conn:
        marks = ", ".join("?" for _ in states)
        return conn.execute(
            f"SELECT * FROM connector_jobs WHERE run=? AND state IN ({marks}) ORDER BY created_at", (run, *states)
        ).fetchall()


def end_connector_job(run: str, action: str, attempt: int, state: str, message: str) -> None:
    """Record, from outside the run's process, how its remote work ended."""
    with reader() as conn:
        conn.execute(
            "UPDATE connector_jobs SET state=?, message=?, ended_at=? WHERE run=? AND action=? AND attempt=?",
            (state, message, time.time(), run, action, attempt),
        )


# -- cluster objects (flyte.kube.record) -------------------------------------------------------


def record_cluster_object(store: RunStore, run: str, action: str, **fields: Any) -> None:
    """Queue the record of an object submitted for ``action`` (``context``, ``namespace``,
    ``api_version``, ``kind``, ``name``, ``manifest``, ``pods``)."""
    store._queue(
        "INSERT OR REPLACE INTO cluster_objects (run, action, context, namespace, api_version, kind, name, manifest, "
        "pods) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            run,
            action,
            fields["context"],
            fields["namespace"],
            fields["api_version"],
            fields["kind"],
            fields["name"],
            fields["manifest"],
            fields["pods"],
        ),
    )


def observed_cluster_object(store: RunStore, run: str, action: str, status: str) -> None:
    """Queue the object's status as last seen (JSON)."""
    store._queue("UPDATE cluster_objects SET status=? WHERE run=? AND action=?", (status, run, action))


def notification_rows(conn: sqlite3.Connection, run: str) -> list[sqlite3.Row]:
    """The outcomes of ``run``'s notifications, in the order they were listed."""
    return conn.execute("SELECT * FROM notifications WHERE run=? ORDER BY number", (run,)).fetchall()


def cluster_objects(conn: sqlite3.Connection, run: str, action: str | None = None) -> list[sqlite3.Row]:
    """The objects a run (or one of its actions) submitted to a cluster, by action."""
    if action is not None:
        return conn.execute("SELECT * FROM cluster_objects WHERE run=? AND action=?", (run, action)).fetchall()
    return conn.execute(
        "SELECT o.* FROM cluster_objects o LEFT JOIN actions a ON a.run = o.run AND a.id = o.action "
        f"WHERE o.run=? ORDER BY a.{CREATION_ORDER}, o.action",
        (run,),
    ).fetchall()


def run_process(name: str) -> tuple[str | None, int | None]:
    """The host and process id that ran (or runs) a run."""
    with reader() as conn:
        row = conn.execute("SELECT host, pid FROM runs WHERE name=?", (name,)).fetchone()
    return (row["host"], row["pid"]) if row else (None, None)


# -- runs and actions (flyte.remote, the run page, flyte.run) ------------------------------------


def run_exists(name: str) -> bool:
    with reader() as conn:
        return conn.execute("SELECT 1 FROM runs WHERE name=?", (name,)).fetchone() is not None


def run_row(conn: sqlite3.Connection, name: str) -> sqlite3.Row | None:
    return conn.execute("SELECT * FROM runs WHERE name=?", (name,)).fetchone()


def run_rows(conn: sqlite3.Connection, limit: int, task: str | None = None) -> list[sqlite3.Row]:
    """The most recent runs first (of ``task`` only, if given)."""
    if task:
        return conn.execute(
            "SELECT * FROM runs WHERE task=? ORDER BY created_at DESC LIMIT ?", (task, limit)
        ).fetchall()
    return conn.execute("SELECT * FROM runs ORDER BY created_at DESC LIMIT ?", (limit,)).fetchall()


def run_rows_in(
    conn: sqlite3.Connection, statuses: list[str], limit: int, offset: int, task: str | None = None
) -> list[sqlite3.Row]:
    """A page of the runs recorded in one of ``statuses`` (of ``task`` only, if given), the most
    recent first."""
    marks = ",".join("?" * len(statuses))
    where, args = f"status IN ({marks})", list(statuses)
    if task:
        where, args = f"{where} AND task=?", [*args, task]
    sql = f"SELECT * FROM runs WHERE {where} ORDER BY created_at DESC LIMIT ? OFFSET ?"
    return conn.execute(sql, (*args, limit, offset)).fetchall()


def action_counts(conn: sqlite3.Connection, run: str) -> dict[str, int]:
    """How many of a run's actions are in each phase."""
    return dict(conn.execute("SELECT status, COUNT(*) FROM actions WHERE run=? GROUP BY status", (run,)).fetchall())


_PAGE_COLUMNS = "id, parent, task, status, attempts, cache, started_at, ended_at, worker, error, report"


def page_rows(conn: sqlite3.Connection, run: str, limit: int) -> tuple[list[sqlite3.Row], list[sqlite3.Row]]:
    """(a run's first ``limit`` actions, its first ``limit`` failed ones or ones with a report),
    in creation order: what the run's page shows."""
    first = conn.execute(
        f"SELECT {_PAGE_COLUMNS} FROM actions WHERE run=? ORDER BY {CREATION_ORDER} LIMIT ?", (run, limit)
    ).fetchall()
    notable = conn.execute(
        f"SELECT {_PAGE_COLUMNS} FROM actions WHERE run=? AND (status=? OR report IS NOT NULL) "
        f"ORDER BY {CREATION_ORDER} LIMIT ?",
        (run, FAILED, limit),
    ).fetchall()
    return first, notable


# -- deployments (flyte.deploy) -----------------------------------------------------------------


def record_deployments(rows: list[tuple[Any, ...]]) -> None:
    """Record (env, task, version, triggers, spec, backend, deployed_at, file, file_digest)
    rows, in one transaction."""
    with reader() as conn:
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            "INSERT OR REPLACE INTO deployments "
            "(env, task, version, triggers, spec, backend, deployed_at, file, file_digest) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        conn.execute("COMMIT")


def deployed_task_rows(task: str) -> list[sqlite3.Row]:
    """The recorded deployments of task ``task`` (its full name), newest first."""
    with reader() as conn:
        return conn.execute(
            "SELECT task, version, file, file_digest, deployed_at FROM deployments WHERE task=? "
            "ORDER BY deployed_at DESC",
            (task,),
        ).fetchall()


def deployment_rows() -> list[sqlite3.Row]:
    """Every recorded deployment, newest first."""
    with reader() as conn:
        return conn.execute(
            "SELECT env, task, version, triggers, backend, deployed_at FROM deployments ORDER BY deployed_at DESC"
        ).fetchall()


# -- triggers (flyte.runtime.schedule) ----------------------------------------------------------


def record_triggers(tasks: list[tuple[str, list[tuple[Any, ...]]]], now: float) -> None:
    """For each (task, [(name, file, schedule, auto_activate), ...]): record its triggers (one
    already recorded keeps its activation) and delete the task's triggers not listed, in one
    transaction."""
    with reader() as conn:
        conn.execute("BEGIN IMMEDIATE")
        for task, triggers in tasks:
            names = [t[0] for t in triggers]
            marks = ", ".join("?" for _ in names)
            conn.execute(
                f"DELETE FROM triggers WHERE task=? AND name NOT IN ({marks})"
                if names
                else "DELETE FROM triggers WHERE task=?",
                (task, *names),
            )
            for name, file, schedule, auto_activate in triggers:
                conn.execute(
                    "INSERT INTO triggers (task, name, file, schedule, active, activated_at, deployed_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (task, name) DO UPDATE SET "
                    "file=excluded.file, schedule=excluded.schedule, deployed_at=excluded.deployed_at",
                    (task, name, file, schedule, int(auto_activate), now if auto_activate else None, now),
                )
        conn.execute("COMMIT")


def trigger_rows(name: str | None = None, task: str | None = None) -> list[dict[str, Any]]:
    sql, params = "SELECT * FROM triggers WHERE 1=1", []
    if name:
        sql, params = sql + " AND name=?", [*params, name]
    if task:
        sql, params = sql + " AND task=?", [*params, task]
    with reader() as conn:
        return [dict(r) for r in conn.execute(sql + " ORDER BY task, name", params).fetchall()]


def set_trigger_active(name: str, task: str, active: bool, now: float) -> bool:
    """Activate (fire times counted from ``now``) or deactivate a trigger; False if there is none."""
    with reader() as conn:
        conn.execute("BEGIN IMMEDIATE")
        found = conn.execute("SELECT active FROM triggers WHERE task=? AND name=?", (task, name)).fetchone()
        if found is None:
            conn.execute("ROLLBACK")
            return False
        if active and not found["active"]:
            conn.execute(
                "UPDATE triggers SET active=1, activated_at=?, last_fired=NULL WHERE task=? AND name=?",
                (now, task, name),
            )
        elif not active:
            conn.execute("UPDATE triggers SET active=0 WHERE task=? AND name=?", (task, name))
        conn.execute("COMMIT")
        return True


def delete_trigger(name: str, task: str) -> bool:
    """Delete a trigger; False if there is none."""
    with reader() as conn:
        return conn.execute("DELETE FROM triggers WHERE task=? AND name=?", (task, name)).rowcount > 0


def trigger_fired(name: str, task: str, at: float) -> None:
    with reader() as conn:
        conn.execute("UPDATE triggers SET last_fired=? WHERE task=? AND name=?", (at, task, name))


# -- attempts (flyte.runtime.attempts) ----------------------------------------------------------


def record_attempt(
    store: RunStore,
    run: str,
    action: str,
    attempt: int,
    *,
    started_at: float | None,
    ended_at: float,
    outcome: str,
    error_type: str | None,
    message: str | None,
    traceback: str | None,
    worker: str,
    log_path: str | None,
) -> None:
    """Queue the record of one finished attempt (the text already masked of secrets)."""
    store._queue(
        "INSERT OR REPLACE INTO attempts (run, action, attempt, started_at, ended_at, outcome, error_type, "
        "message, traceback, worker, log_path) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (run, action, attempt, started_at, ended_at, outcome, error_type, message, traceback, worker, log_path),
    )


def attempt_rows(conn: sqlite3.Connection, run: str, action: str) -> list[sqlite3.Row]:
    """An action's recorded attempts, first to last."""
    return conn.execute("SELECT * FROM attempts WHERE run=? AND action=? ORDER BY attempt", (run, action)).fetchall()


def action_with_process(conn: sqlite3.Connection, run: str, action: str) -> sqlite3.Row | None:
    """An action's outcome and times with the host and pid of its run's process (``status``,
    ``attempts``, ``cache``, ``started_at``, ``ended_at``, ``host``, ``pid``)."""
    return conn.execute(
        "SELECT a.status, a.attempts, a.cache, a.started_at, a.ended_at, r.host, r.pid FROM actions a "
        "JOIN runs r ON r.name = a.run WHERE a.run=? AND a.id=?",
        (run, action),
    ).fetchone()


# -- the UI and the CLI (flyte.ui.queries, flyte.cli) ---------------------------------------------

_RUN_FILTERS = {"status": "status=?", "task": "task=?", "since": "created_at>=?", "until": "created_at<?"}


def run_page(
    conn: sqlite3.Connection,
    limit: int,
    offset: int,
    *,
    status: str | None = None,
    task: str | None = None,
    since: float | None = None,
    until: float | None = None,
) -> tuple[list[sqlite3.Row], int]:
    """One page of runs, newest first, that have ``status``, started from ``task`` and were
    created in [``since``, ``until``) (each filter only when given), and how many match."""
    given = {"status": status, "task": task, "since": since, "until": until}
    clauses = [_RUN_FILTERS[name] for name, value in given.items() if value is not None]
    params = [value for value in given.values() if value is not None]
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    total = conn.execute(f"SELECT COUNT(*) FROM runs{where}", params).fetchone()[0]
    rows = conn.execute(
        f"SELECT * FROM runs{where} ORDER BY created_at DESC LIMIT ? OFFSET ?", (*params, limit, offset)
    ).fetchall()
    return rows, total


def run_tasks(conn: sqlite3.Connection) -> list[str]:
    """Every task a recorded run started from, by name."""
    return [row[0] for row in conn.execute("SELECT DISTINCT task FROM runs ORDER BY task")]


def action_row(conn: sqlite3.Connection, run: str, action: str) -> sqlite3.Row | None:
    """One action's row (None if ``run`` has no action ``action``)."""
    return conn.execute("SELECT * FROM actions WHERE run=? AND id=?", (run, action)).fetchone()


def child_groups(conn: sqlite3.Connection, run: str, parent: str | None) -> list[sqlite3.Row]:
    """The children of ``parent`` (None: the run's root actions) counted by group, task and phase:
    ``grp``, ``task``, ``status``, ``n`` (how many), ``first`` (the number of the first created),
    ``s`` (the earliest start) and ``e`` (the latest end)."""
    return conn.execute(
        f"SELECT grp, task, status, COUNT(*) AS n, MIN({CREATION_ORDER}) AS first, MIN(started_at) AS s, "
        "MAX(ended_at) AS e FROM actions WHERE run=? AND parent IS ? GROUP BY grp, task, status",
        (run, parent),
    ).fetchall()


def child_rows(conn: sqlite3.Connection, run: str, parent: str, limit: int, offset: int) -> list[sqlite3.Row]:
    """One page of ``parent``'s children, in creation order."""
    return conn.execute(
        f"SELECT * FROM actions WHERE run=? AND parent=? ORDER BY {CREATION_ORDER} LIMIT ? OFFSET ?",
        (run, parent, limit, offset),
    ).fetchall()


def children_count(conn: sqlite3.Connection, run: str, parent: str) -> int:
    """How many actions ``parent`` started."""
    return conn.execute("SELECT COUNT(*) FROM actions WHERE run=? AND parent=?", (run, parent)).fetchone()[0]


def failure_origin(conn: sqlite3.Connection, run: str) -> str | None:
    """The id of the action where the run's failure was raised: from the root down, the last
    created failed child whose error is its parent's (the error came up from it unchanged),
    until none is. A failure its parent caught is not followed (the parent failed of
    something else). When the root did not fail, the last created failed action (None if
    none did)."""
    root = conn.execute("SELECT id, status, error FROM actions WHERE run=? AND parent IS NULL", (run,)).fetchone()
    if root is None or root["status"] != FAILED:
        row = conn.execute(
            f"SELECT id FROM actions WHERE run=? AND status=? ORDER BY {CREATION_ORDER} DESC LIMIT 1", (run, FAILED)
        ).fetchone()
        return None if row is None else row["id"]
    ident = root["id"]
    while True:
        child = conn.execute(
            "SELECT id FROM actions WHERE run=? AND parent=? AND status=? AND error IS ? "
            f"ORDER BY {CREATION_ORDER} DESC LIMIT 1",
            (run, ident, FAILED, root["error"]),
        ).fetchone()
        if child is None:
            return ident
        ident = child["id"]
