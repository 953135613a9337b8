"""Shared fixtures: a migrated database per test session, empty tables per test, factories.

The database is a temp SQLite file, or AETHER_TEST_DATABASE_URL (PostgreSQL). The environment
is set before the app is imported so every engine points at it.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

_TMP = Path(tempfile.mkdtemp(prefix="aether-tests-"))
BASE_PG_URL = os.environ.get("AETHER_TEST_DATABASE_URL", "")


def _private_postgres_database(base_url: str) -> str:
    """A fresh database for this test process, so parallel runs never share tables."""
    import sqlalchemy

    name = f"aether_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = sqlalchemy.create_engine(base_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    finally:
        admin.dispose()
    return base_url.rsplit("/", 1)[0] + "/" + name


TEST_DB_URL = (
    _private_postgres_database(BASE_PG_URL) if BASE_PG_URL else f"sqlite:///{_TMP / 'test.db'}"
)
os.environ["REFLEX_DB_URL"] = TEST_DB_URL
os.environ.setdefault("AETHER_ENV", "test")
os.environ["AETHER_SCHEDULER_ENABLED"] = "false"
os.environ.setdefault("AETHER_HOOK_SECRETS", "test-hook-secret-0001,test-hook-secret-old")
os.environ.setdefault("REFLEX_TELEMETRY_ENABLED", "false")
os.environ.setdefault("AETHER_METRICS_TOKEN", "test-metrics-token")

import sqlalchemy as sa  # noqa: E402
from sqlmodel import Session, SQLModel  # noqa: E402

IS_POSTGRES = TEST_DB_URL.startswith("postgresql")
REQUIRE_POSTGRES = os.environ.get("AETHER_REQUIRE_POSTGRES") == "1"
KEEP_TABLES = {"alembic_version"}


def pytest_collection_modifyitems(config, items):
    if IS_POSTGRES:
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL: set AETHER_TEST_DATABASE_URL")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


def _drop_postgres_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    admin = sa.create_engine(BASE_PG_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.dispose()


def _drop_private_database() -> None:
    from aether_web.db import get_engine

    get_engine().dispose()
    _drop_postgres_database(TEST_DB_URL)


def pytest_sessionfinish(session, exitstatus):
    """With AETHER_REQUIRE_POSTGRES=1, a run on PostgreSQL that executed no postgres test fails."""
    if IS_POSTGRES:
        _drop_private_database()
    if not (REQUIRE_POSTGRES and IS_POSTGRES):
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    ran = [
        r for key in ("passed", "failed") for r in (reporter.stats.get(key, []) if reporter else [])
        if getattr(r, "when", "call") == "call" and "postgres" in getattr(r, "keywords", {})
    ]
    if not ran:
        print("\nERROR: AETHER_REQUIRE_POSTGRES=1 but no PostgreSQL test ran")
        session.exitstatus = 1


@pytest.fixture(scope="session")
def db_url() -> str:
    """The migrated test database's URL."""
    from aether_web.cli import migrate

    migrate(TEST_DB_URL)
    return TEST_DB_URL


@pytest.fixture(scope="session")
def engine(db_url):
    from aether_web.db import get_engine

    return get_engine()


@pytest.fixture
def fresh_url(tmp_path):
    """An empty database of the test run's kind (nothing migrated), dropped afterwards."""
    url = _private_postgres_database(BASE_PG_URL) if BASE_PG_URL else \
        f"sqlite:///{tmp_path / 'fresh.db'}"
    yield url
    if BASE_PG_URL:
        _drop_postgres_database(url)


def _truncate(engine) -> None:
    import aether_web.models  # noqa: F401

    tables = [t for t in reversed(SQLModel.metadata.sorted_tables) if t.name not in KEEP_TABLES]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in tables)
            if names:
                conn.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
        else:
            for table in tables:
                conn.execute(table.delete())


@pytest.fixture(autouse=True)
def _clean_tables(request):
    """Tests that use the database start from empty tables."""
    if "engine" not in request.fixturenames and "db_url" not in request.fixturenames:
        yield
        return
    engine = request.getfixturevalue("engine")
    _truncate(engine)
    from aether_web.services import throttle

    throttle.forget_refusals()  # the counters went with the tables
    yield


@pytest.fixture
def session(engine):
    with Session(engine, expire_on_commit=False) as s:
        yield s


@pytest.fixture
def make_user(engine):
    from aether_web.models import Profile
    from aether_web.services.accounts import hash_password

    hashed = hash_password("correct-horse-battery")

    def make(email: str | None = None, plan: str = "free", **fields) -> Profile:
        # A confirmed address unless the test says otherwise (email_verified_at=None).
        fields.setdefault("email_verified_at", datetime.now(UTC))
        profile = Profile(
            email=email or f"user-{uuid.uuid4().hex[:10]}@example.com",
            password_hash=fields.pop("password_hash", hashed),
            plan=plan,
            **fields,
        )
        with Session(engine, expire_on_commit=False) as s:
            s.add(profile)
            s.commit()
        return profile

    return make


@pytest.fixture
def make_project(engine):
    from aether_web.models import Project

    def make(user, name: str | None = None, **fields) -> Project:
        project = Project(user_id=user.id, name=name or f"p-{uuid.uuid4().hex[:8]}", **fields)
        with Session(engine, expire_on_commit=False) as s:
            s.add(project)
            s.commit()
        return project

    return make


@pytest.fixture
def api(engine):
    from starlette.testclient import TestClient

    from aether_web.api.app import api_transformer
    from aether_web.api.heartbeat import heartbeat_fast_path
    from aether_web.api.limits import limit_request_bodies
    from aether_web.api.security import security_middleware

    # As the server runs it: origin checks and security headers, then the body limits; on
    # PostgreSQL the heartbeat hook takes its fast path.
    with TestClient(security_middleware(limit_request_bodies(heartbeat_fast_path(
            api_transformer()))),
                    raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def client_for(engine):
    """A TestClient signed in as the given user (through a real server-side session)."""
    from starlette.testclient import TestClient

    from aether_web.api.app import api_transformer
    from aether_web.cookies import SESSION_COOKIE
    from aether_web.db import transaction
    from aether_web.services.accounts import create_session

    clients = []

    def make(user) -> TestClient:
        with transaction(engine) as s:
            token = create_session(s, user_id=user.id)
        client = TestClient(api_transformer(), raise_server_exceptions=False)
        client.cookies.set(SESSION_COOKIE, token)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
