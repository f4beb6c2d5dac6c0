"""Job functions for the worker-process tests: each run is logged in a SQLite file of effects."""

from __future__ import annotations

import os
import sqlite3
import time

from actorlib.jobs import report_progress

EFFECTS_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (key TEXT NOT NULL, pid INTEGER NOT NULL, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS finished (key TEXT NOT NULL, pid INTEGER NOT NULL, at REAL NOT NULL);
"""


def make_effects(path: str) -> None:
    """Create the effects file: `runs` (each start) and `finished` (each run to its end)."""
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode = WAL")
        db.executescript(EFFECTS_SCHEMA)
    finally:
        db.close()


def _log(db: sqlite3.Connection, table: str, key: str) -> None:
    db.execute(
        f"INSERT INTO {table} (key, pid, at) VALUES (?, ?, ?)", (key, os.getpid(), time.time())
    )


def step(effects: str, key: str, seconds: float) -> str:
    """Log the start, work for *seconds* (reporting progress), log the end; return *key*."""
    db = sqlite3.connect(effects, timeout=30, isolation_level=None)
    try:
        _log(db, "runs", key)
        report_progress(0, 2)
        time.sleep(seconds / 2)
        report_progress(1, 2)
        time.sleep(seconds / 2)
        _log(db, "finished", key)
    finally:
        db.close()
    return key
