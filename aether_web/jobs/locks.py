"""One run of a job at a time, across every worker and machine.

The (job_name, tick) row elects one worker per tick, but a run that outlasts its interval would
still overlap the next tick's run on another worker. The runner therefore holds a lock per job
for the whole run, and a tick whose lock is taken is skipped (the next tick catches up):

- PostgreSQL: a session advisory lock (`pg_try_advisory_lock`) on a connection of its own; the
  server drops it when that connection ends, so a killed worker never leaves it behind.
- SQLite (one machine): an exclusive `flock` on a file beside the database; the kernel drops it
  when the process ends.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa

from aether_web.db import is_postgres


def advisory_key(job_name: str) -> int:
    """A stable signed 64-bit key for the job's PostgreSQL advisory lock."""
    digest = hashlib.sha256(f"aether-job:{job_name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _lock_file(engine: sa.Engine, job_name: str) -> Path:
    database = engine.url.database or ""
    if database in ("", ":memory:"):
        base = Path(tempfile.gettempdir()) / "aether-memory-db"
    else:
        base = Path(database)
    return base.with_name(f"{base.name}.job-{job_name}.lock")


@contextlib.contextmanager
def job_lock(engine: sa.Engine, job_name: str) -> Iterator[bool]:
    """Try to take the job's lock without waiting; yields whether this process holds it."""
    if is_postgres(engine):
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            key = advisory_key(job_name)
            held = bool(conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": key})
                        .scalar())
            try:
                yield held
            finally:
                if held:
                    with contextlib.suppress(sa.exc.DBAPIError):
                        conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
        return
    path = _lock_file(engine, job_name)
    with open(path, "a+b") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
