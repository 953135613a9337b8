"""The migrations build exactly the tables and indexes the models declare (SQLite, or
PostgreSQL when configured), and 0012's downgrade brings `plan_limits` back as 0001 seeded it."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import SQLModel

import aether_web.models  # noqa: F401  (registers every table)
from aether_web.cli import alembic_config, migrate
from alembic import command


def test_the_migrated_tables_are_the_models_tables(fresh_url):
    migrate(url=fresh_url)
    engine = sa.create_engine(fresh_url)
    try:
        tables = set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert tables == set(SQLModel.metadata.tables) | {"alembic_version"}
    assert "plan_limits" not in tables


def test_the_migrated_indexes_are_the_models_indexes(fresh_url):
    migrate(url=fresh_url)
    engine = sa.create_engine(fresh_url)
    try:
        inspector = sa.inspect(engine)
        migrated = {(t, ix["name"]) for t in SQLModel.metadata.tables
                    for ix in inspector.get_indexes(t) if ix["name"].startswith("ix_")}
    finally:
        engine.dispose()
    declared = {(t.name, ix.name) for t in SQLModel.metadata.tables.values()
                for ix in t.indexes if str(ix.name).startswith("ix_")}
    assert migrated == declared


def test_dropping_plan_limits_can_be_undone(fresh_url):
    migrate(url=fresh_url, revision="0001")
    engine = sa.create_engine(fresh_url)
    try:
        with engine.connect() as conn:
            seeded = conn.exec_driver_sql("SELECT * FROM plan_limits ORDER BY plan").all()
        migrate(url=fresh_url, revision="0012_drop_plan_limits")
        assert "plan_limits" not in sa.inspect(engine).get_table_names()
        command.downgrade(alembic_config(fresh_url), "0001")
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT * FROM plan_limits ORDER BY plan").all() == seeded
    finally:
        engine.dispose()
    assert [row[0] for row in seeded] == ["free", "pro", "team"]
