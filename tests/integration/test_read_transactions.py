"""Reads don't take SQLite's write lock; on PostgreSQL they are READ ONLY (db.py)."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from aether_web.db import read_transaction, transaction


def test_a_read_runs_while_a_writer_holds_the_lock(engine, make_user):
    make_user()
    holding = threading.Event()
    release = threading.Event()
    errors: list[BaseException] = []

    def writer():
        try:
            with transaction(engine) as session:
                session.exec(sa.text("SELECT 1"))  # BEGIN IMMEDIATE on SQLite: the write lock
                holding.set()
                assert release.wait(60)
        except BaseException as exc:
            errors.append(exc)
            holding.set()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert holding.wait(30)
        # If this waited on the writer's lock it would never finish before `release`.
        with read_transaction(engine) as session:
            assert session.exec(sa.text("SELECT count(*) FROM profiles")).one()[0] == 1
    finally:
        release.set()
        thread.join(60)
    assert not errors


def test_a_read_transaction_keeps_nothing(engine, make_user):
    user = make_user()
    with read_transaction(engine) as session:
        if engine.dialect.name == "postgresql":
            with pytest.raises(sa.exc.DBAPIError):
                session.exec(sa.text("UPDATE profiles SET name = 'x'"))
        else:
            assert session.exec(sa.text("UPDATE profiles SET name = 'x'")).rowcount == 1
    with read_transaction(engine) as session:
        names = session.exec(sa.text("SELECT name FROM profiles")).all()
    assert names and ("x",) not in names and user.name != "x"


def test_streamed_rows_come_in_order_and_an_early_close_leaves_the_transaction_usable(
        engine, monkeypatch):
    from aether_web import db

    monkeypatch.setattr(db, "STREAM_CHUNK", 7)  # several chunks
    pg = db.is_postgres(engine)
    # On PostgreSQL the query is still running when the iterator is closed (more rows than
    # the sockets hold, and a pause near the end), so a cancelled query would abort the
    # transaction.
    last = 200_000 if pg else 50
    numbers = sa.select(sa.literal_column("n"), sa.literal_column("repeat('x', 200)"),
                        sa.literal_column(f"CASE WHEN n = {last - 100} THEN pg_sleep(0.3) END")
                        ).select_from(sa.text(f"generate_series(1, {last}) AS n")) if pg else \
        sa.select(sa.literal_column("value").label("n")).select_from(
            sa.text("json_each('[" + ",".join(str(i) for i in range(1, last + 1)) + "]')"))
    query = sa.select(numbers.subquery().c.n).where(
        sa.literal_column("n") >= sa.bindparam("low", type_=sa.Integer()))
    with transaction(engine) as session:
        assert [row[0] for row in db.stream_rows(session, query, {"low": 3})] == \
            list(range(3, last + 1))
        rows = db.stream_rows(session, query, {"low": 1})
        assert [next(rows)[0] for _ in range(10)] == list(range(1, 11))
        rows.close()  # mid-stream: the rest is read, the query is not cancelled
        assert session.exec(sa.text("SELECT 42")).one()[0] == 42


@pytest.mark.postgres
def test_without_jit_lasts_for_its_transaction_only(engine):
    from aether_web.db import without_jit

    with transaction(engine) as session:
        default = session.exec(sa.text("SHOW jit")).one()[0]
    with read_transaction(engine) as session:
        without_jit(session)
        assert session.exec(sa.text("SHOW jit")).one()[0] == "off"
    with transaction(engine) as session:
        assert session.exec(sa.text("SHOW jit")).one()[0] == default


@pytest.mark.postgres
def test_a_streamed_query_that_fails_raises_as_sqlalchemy_does(engine):
    from aether_web import db

    failing = sa.select(sa.literal_column("1 / (n - 5000)").label("x")).select_from(
        sa.text("generate_series(1, 10000) AS n")).where(
        sa.literal_column("n") > sa.bindparam("low", type_=sa.Integer()))
    # A DBAPIError is what database_unavailable and the jobs' retries read.
    with pytest.raises(sa.exc.DBAPIError), transaction(engine) as session:
        for _ in db.stream_rows(session, failing, {"low": 0}):
            pass
