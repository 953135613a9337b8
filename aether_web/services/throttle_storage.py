"""A `limits` storage on our database, for when no Redis is configured.

Each `incr` is one atomic upsert (INSERT .. ON CONFLICT DO UPDATE .. RETURNING) committed at
once in its own short transaction, so parallel attempts each get a distinct count and a
caller's rollback never undoes a counted attempt.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import sqlalchemy as sa
from limits.storage import Storage

from aether_web.db import dialect_insert
from aether_web.models import ThrottleCounter

_TABLE = ThrottleCounter.__table__  # type: ignore[attr-defined]


class DatabaseStorage(Storage):
    """Fixed-window counters in `throttle_counters` (FixedWindowRateLimiter only)."""

    STORAGE_SCHEME = ["aether+database"]

    def __init__(self, uri: str | None = None, engine: sa.Engine | None = None,
                 clock: Callable[[], float] = time.time, wrap_exceptions: bool = False,
                 **options: float | str | bool) -> None:
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self._engine = engine
        self.clock = clock

    @property
    def engine(self) -> sa.Engine:
        from aether_web.db import get_engine

        return self._engine or get_engine()

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return sa.exc.SQLAlchemyError

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        """Add `amount` to the key's window (a new window when the old one ended); the count."""
        now = self.clock()
        stmt = dialect_insert(self.engine)(_TABLE).values(key=key, count=amount, expires_at=now + expiry)
        ended = _TABLE.c.expires_at <= now
        stmt = stmt.on_conflict_do_update(
            index_elements=[_TABLE.c.key],
            set_={
                "count": sa.case((ended, amount), else_=_TABLE.c.count + amount),
                "expires_at": sa.case((ended, now + expiry), else_=_TABLE.c.expires_at),
            },
        ).returning(_TABLE.c.count)
        with self.engine.begin() as conn:
            return int(conn.execute(stmt).scalar_one())

    def _row(self, key: str) -> tuple[int, float] | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(_TABLE.c.count, _TABLE.c.expires_at).where(_TABLE.c.key == key)
            ).first()
        if row is None or row.expires_at <= self.clock():
            return None
        return int(row.count), float(row.expires_at)

    def get(self, key: str) -> int:
        row = self._row(key)
        return row[0] if row else 0

    def get_expiry(self, key: str) -> float:
        row = self._row(key)
        return row[1] if row else self.clock()

    def check(self) -> bool:
        with self.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        return True

    def reset(self) -> int | None:
        with self.engine.begin() as conn:
            return conn.execute(sa.delete(_TABLE)).rowcount

    def clear(self, key: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(sa.delete(_TABLE).where(_TABLE.c.key == key))
