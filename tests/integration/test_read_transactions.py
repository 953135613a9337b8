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
