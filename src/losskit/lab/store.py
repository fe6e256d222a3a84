"""The run store: every finished run, keyed by its config's hash, in one SQLite file.

Each result is committed the moment it arrives, in WAL mode, so a sweep killed at any point
(Ctrl-C, SIGKILL, a power cut aside) keeps every run that had finished; only the parent
process writes, so workers never contend for the file. Rerunning a sweep reads finished runs
back instead of training them again; a changed setting changes the key, never a stale reuse.

>>> store = RunStore(None)  # in memory
>>> len(store)
0
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from typing import Iterable

from ._types import RunResult

STORE_FILENAME = "runs.sqlite"
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    key TEXT PRIMARY KEY,
    loss TEXT NOT NULL,
    seed INTEGER NOT NULL,
    finished_at REAL NOT NULL,
    result TEXT NOT NULL
)
"""


class RunStore:
    """Finished runs in SQLite at ``path`` (``None``: in memory, gone when the store is closed)."""

    def __init__(self, path: str | os.PathLike | None) -> None:
        self.path = None if path is None else os.fspath(path)
        if self.path is not None:
            os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        # Autocommit: every put is its own transaction, durable as soon as put returns.
        self._connection = sqlite3.connect(self.path or ":memory:", isolation_level=None, timeout=30.0)
        if self.path is not None:
            self._connection.execute("PRAGMA journal_mode=WAL")
            # With WAL, NORMAL survives any crash of this process; only an OS crash could lose
            # the last commits, which would then simply be run again.
            self._connection.execute("PRAGMA synchronous=NORMAL")
        self._connection.execute(_SCHEMA)
        self._connection.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def put(self, result: RunResult) -> None:
        """Write one finished run (replacing any run with the same key)."""
        self._connection.execute(
            "INSERT OR REPLACE INTO runs (key, loss, seed, finished_at, result) VALUES (?, ?, ?, ?, ?)",
            (result.key, result.loss_label, result.config.seed, time.time(), json.dumps(result.to_dict())),
        )

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
