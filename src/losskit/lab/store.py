"""The run store: every finished run, keyed by its config's hash, in one SQLite file.

Each result is committed the moment it arrives, in WAL mode, so a sweep killed at any point
(Ctrl-C, SIGKILL, a power cut aside) keeps every run that had finished; only the parent
processes write, so workers never contend for the file. Rerunning a sweep reads finished runs
back instead of training them again; a changed setting changes the key, never a stale reuse.

Several sweeps may share one store (two ``losskit compare`` on the same ``--out``): before
training a run, a sweep *claims* it (one row in ``claims``, written in a transaction that
first checks for a finished run and a live claim), so a run is trained once; the other sweep
waits for it and reads it back. A claim names its process (host, pid and start time): one left
by a process that died is stale and is taken over. Every training is also appended to
``trainings``, the store's record of who trained what.

>>> store = RunStore(None)  # in memory
>>> len(store)
0
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
from typing import Iterable, Sequence

from losskit._errors import ArgumentError, literal

from ._types import RunResult

STORE_FILENAME = "runs.sqlite"
SCHEMA_VERSION = 2  # 2: claims and trainings (a version-1 store gains them when opened)

_SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS runs (
    key TEXT PRIMARY KEY,
    loss TEXT NOT NULL,
    seed INTEGER NOT NULL,
    finished_at REAL NOT NULL,
    result TEXT NOT NULL
)
""",
    # A run being trained: by which process (a pid is only meaningful on its host; the start
    # time tells a live process from a later one that reuses a dead one's pid).
    """
CREATE TABLE IF NOT EXISTS claims (
    key TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    started TEXT NOT NULL,
    claimed_at REAL NOT NULL
)
""",
    # One row per training written to this store, appended, never replaced.
    """
CREATE TABLE IF NOT EXISTS trainings (
    key TEXT NOT NULL,
    loss TEXT NOT NULL,
    seed INTEGER NOT NULL,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    finished_at REAL NOT NULL
)
""",
)


def _process_start(pid: int) -> str:
    """When process ``pid`` started, as far as this system tells (Linux: /proc), else ``""``."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            # Field 22 (start time in clock ticks); the name in field 2 may hold spaces.
            return handle.read().rsplit(b")", 1)[1].split()[19].decode()
    except (OSError, IndexError):
        return ""


def _process_alive(pid: int, started: str) -> bool:
    """Whether the process that wrote a claim on this host is still running."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone else's process: alive
    except OSError:
        return True  # cannot tell (e.g. Windows quirks): never take over a live run
    now = _process_start(pid)
    if started and now and now != started:
        return False  # the pid was reused by a later process
    if now and _is_zombie(pid):
        return False
    return True


def _is_zombie(pid: int) -> bool:
    """A process that exited and awaits its parent (a killed sweep whose parent has not reaped it)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return handle.read().rsplit(b")", 1)[1].split()[0] in (b"Z", b"X")
    except (OSError, IndexError):
        return False


class RunStore:
    """Finished runs in SQLite at ``path`` (``None``: in memory, gone when the store is closed)."""

    def __init__(self, path: str | os.PathLike | None) -> None:
        self.path = None if path is None else os.fspath(path)
        if self.path is not None:
            os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self._started = _process_start(self.pid)
        # Autocommit: every put is its own transaction, durable as soon as put returns.
        self._connection = sqlite3.connect(self.path or ":memory:", isolation_level=None, timeout=60.0)
        if self.path is not None:
            self._retry(lambda: self._connection.execute("PRAGMA journal_mode=WAL"))
            # With WAL, NORMAL survives any crash of this process; only an OS crash could lose
            # the last commits, which would then simply be run again.
            self._connection.execute("PRAGMA synchronous=NORMAL")
        for statement in _SCHEMA:
            self._retry(lambda statement=statement: self._connection.execute(statement))
        self._retry(lambda: self._connection.execute(f"PRAGMA user_version={SCHEMA_VERSION}"))

    @classmethod
    def in_folder(cls, folder: str | os.PathLike) -> "RunStore":
        """The store of an output folder (``<folder>/runs.sqlite``), created if need be; a folder
        that cannot be created or written is an :class:`ArgumentError` naming ``out``."""
        folder = os.fspath(folder)
        try:
            os.makedirs(folder, exist_ok=True)
            probe = os.path.join(folder, f".losskit-write-test-{os.getpid()}")
            with open(probe, "w"):
                pass
            os.remove(probe)
            return cls(os.path.join(folder, STORE_FILENAME))
        except (OSError, sqlite3.Error) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            blocker = _existing_file_above(folder)
            if blocker is not None:
                reason = f"{blocker} is a file, not a folder"
            raise ArgumentError(
                f"{{out:{literal(folder)}}} cannot be written ({literal(reason)}); "
                "choose a folder you can write to"
            ) from None

    @staticmethod
    def _retry(operation, attempts: int = 50):
        """Run ``operation``, waiting out the short locks of another process opening the store."""
        for attempt in range(attempts):
            try:
                return operation()
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc) or attempt == attempts - 1:
                    raise
                time.sleep(0.1)

    def put(self, result: RunResult) -> None:
        """Write one finished run (replacing any run with the same key), record that this process
        trained it, and drop its claim: one transaction."""
        now = time.time()
        with self._transaction():
            self._connection.execute(
                "INSERT OR REPLACE INTO runs (key, loss, seed, finished_at, result) VALUES (?, ?, ?, ?, ?)",
                (result.key, result.loss_label, result.config.seed, now, json.dumps(result.to_dict())),
            )
            self._connection.execute(
                "INSERT INTO trainings (key, loss, seed, host, pid, finished_at) VALUES (?, ?, ?, ?, ?, ?)",
                (result.key, result.loss_label, result.config.seed, self.host, self.pid, now),
            )
            self._connection.execute("DELETE FROM claims WHERE key = ?", (result.key,))

    def claim(self, keys: Sequence[str], limit: int) -> list[str]:
        """Claim up to ``limit`` of ``keys`` (in order) for this process to train: those with no
        finished run and no live claim of another process (a stale claim is taken over)."""
        if limit <= 0 or not keys:
            return []
        claimed: list[str] = []
        with self._transaction():
            finished = self._existing("runs", keys)
            claims = {
                key: (host, pid, started)
                for key, host, pid, started in self._rows("SELECT key, host, pid, started FROM claims", keys)
            }
            for key in dict.fromkeys(keys):
                if len(claimed) >= limit:
                    break
                if key in finished:
                    continue
                if key in claims:
                    host, pid, started = claims[key]
                    mine = host == self.host and pid == self.pid
                    if not mine and (host != self.host or _process_alive(pid, started)):
                        continue  # being trained by a live process (or one on another host)
                    if mine:
                        continue  # already in flight here
                self._connection.execute(
                    "INSERT OR REPLACE INTO claims (key, host, pid, started, claimed_at) VALUES (?, ?, ?, ?, ?)",
                    (key, self.host, self.pid, self._started, time.time()),
                )
                claimed.append(key)
        return claimed

    def _claim_as(self, keys: Sequence[str], *, pid: int) -> None:
        """Write claims in the name of process ``pid`` of this host (for tests)."""
        with self._transaction():
            for key in keys:
                self._connection.execute(
                    "INSERT OR REPLACE INTO claims (key, host, pid, started, claimed_at) VALUES (?, ?, ?, ?, ?)",
                    (key, self.host, pid, _process_start(pid), time.time()),
                )

    def release(self, keys: Iterable[str]) -> None:
        """Drop this process's claims on ``keys`` (runs it will not train after all)."""
        keys = list(keys)
        if not keys:
            return
        with self._transaction():
            for key in keys:
                self._connection.execute(
                    "DELETE FROM claims WHERE key = ? AND host = ? AND pid = ?", (key, self.host, self.pid)
                )

    def _existing(self, table: str, keys: Sequence[str]) -> set[str]:
        return {row[0] for row in self._rows(f"SELECT key FROM {table}", keys)}

    def _rows(self, select: str, keys: Sequence[str]) -> list[tuple]:
        """``select ... WHERE key IN (keys)``, in chunks (SQLite limits a statement's parameters)."""
        wanted = list(dict.fromkeys(keys))
        rows: list[tuple] = []
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            rows.extend(self._connection.execute(f"{select} WHERE key IN ({','.join('?' * len(chunk))})", chunk))
        return rows

    def _transaction(self) -> "_Transaction":
        return _Transaction(self._connection)

    def get_many(self, keys: Iterable[str]) -> dict[str, RunResult]:
        """The finished runs among ``keys``, by key."""
        wanted = list(dict.fromkeys(keys))
        found: dict[str, RunResult] = {}
        # SQLite limits the number of parameters of one statement; ask in chunks.
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            placeholders = ",".join("?" * len(chunk))
            rows = self._connection.execute(f"SELECT key, result FROM runs WHERE key IN ({placeholders})", chunk)
            for key, text in rows:
                found[key] = RunResult.from_dict(json.loads(text))
        return found

    def keys(self) -> list[str]:
        return [row[0] for row in self._connection.execute("SELECT key FROM runs ORDER BY finished_at")]

    def __len__(self) -> int:
        return int(self._connection.execute("SELECT COUNT(*) FROM runs").fetchone()[0])

    def close(self) -> None:
        self._connection.close()

    def __enter__(self) -> "RunStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on error): the write lock is taken up
    front, so a claim's check and write are one atomic step among processes."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection

    def __enter__(self) -> None:
        RunStore._retry(lambda: self._connection.execute("BEGIN IMMEDIATE"))

    def __exit__(self, kind, *exc: object) -> None:
        self._connection.execute("COMMIT" if kind is None else "ROLLBACK")


def _existing_file_above(folder: str) -> str | None:
    """The regular file on the way to ``folder`` (``report.csv/out``), if there is one."""
    path = os.path.abspath(folder)
    while True:
        if os.path.isfile(path):
            return path
        parent = os.path.dirname(path)
        if parent == path:
            return None
        path = parent
