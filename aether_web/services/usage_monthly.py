"""`usage_monthly`: each user's compute seconds and storage GB-hours per UTC month, a cache
added to as runs close (`runs.close_run`) and storage accrues (`storage_accrual`), and rebuilt
daily from the runs (`usage_rebuild.rebuild_monthly`)."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

from sqlmodel import Session

from aether_web.db import dialect_insert
from aether_web.models import UsageMonthly


def add_to_month(session: Session, *, user_id: uuid.UUID, month: date,
                 compute_seconds: int = 0, storage_gb_hours: Decimal = Decimal(0)) -> None:
    """Add to a user's month atomically (concurrent closes of one user never lose a write)."""
    insert = dialect_insert(session)
    table = UsageMonthly.__table__
    stmt = insert(table).values(id=uuid.uuid4(), user_id=user_id, month=month,
                                compute_seconds=compute_seconds,
                                storage_gb_hours=storage_gb_hours)
    stmt = stmt.on_conflict_do_update(
        index_elements=["user_id", "month"],
        set_={
            "compute_seconds": table.c.compute_seconds + stmt.excluded.compute_seconds,
            "storage_gb_hours": table.c.storage_gb_hours + stmt.excluded.storage_gb_hours,
        },
    )
    session.execute(stmt)
