"""Fixtures of the fault suite: its own PostgreSQL cluster and Redis, and the prod server."""

from __future__ import annotations

import shutil

import pytest

from tests.faults.cluster import PG_BIN, PrivatePostgres, PrivateRedis


@pytest.fixture(scope="session")
def private_pg():
    if not (PG_BIN / "initdb").exists() or shutil.which("runuser") is None:
        pytest.fail(f"the fault suite needs PostgreSQL's initdb at {PG_BIN} and runuser")
    cluster = PrivatePostgres().setup()
    yield cluster
    cluster.teardown()


@pytest.fixture(scope="session")
def private_redis():
    if shutil.which("redis-server") is None:
        pytest.fail("the fault suite needs redis-server")
    server = PrivateRedis().start()
    yield server
    server.stop()
