"""The database engine and transactions.

Services take a session and never commit; API routes, state handlers and jobs open the
transaction with `transaction()`, which commits on success and rolls back on any error. Work
that only reads opens `read_transaction()` instead: on SQLite it does not take the write lock
(so page loads and health checks never queue behind writers), on PostgreSQL it is READ ONLY.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event, orm
from sqlmodel import Session, create_engine

READ_ONLY_OPTION = "aether_read_only"


def database_url() -> str:
    """The URL from Reflex's config (rxconfig.py, overridden by REFLEX_DB_URL)."""
    import reflex as rx

    url = rx.config.get_config().db_url
    if not url:
        raise RuntimeError("no database configured: set db_url in rxconfig.py or REFLEX_DB_URL")
    return url


def make_engine(url: str) -> sa.Engine:
    """An engine with the settings this app relies on for each dialect."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        # pysqlite's own transaction handling defers BEGIN until the first write, so two
        # transactions can read the same counts; BEGIN IMMEDIATE takes the write lock up front.
        @event.listens_for(engine, "connect")
        def _no_pysqlite_begin(dbapi_conn, _record):
            dbapi_conn.isolation_level = None

        # Reads (read_transaction) begin deferred: WAL lets them run beside a writer.
        @event.listens_for(engine, "begin")
        def _begin_immediate(conn):
            read = conn.get_execution_options().get(READ_ONLY_OPTION)
            conn.exec_driver_sql("BEGIN" if read else "BEGIN IMMEDIATE")

        return engine
    # Each checkout pings the connection, so a database restart costs no request; connections
    # are also replaced after 5 minutes and TCP keepalives notice a server that went away. (The
    # most frequent request, the heartbeat hook, has connections of its own: api/heartbeat.py.)
    return create_engine(url, pool_pre_ping=True, pool_recycle=300, pool_size=10,
                         max_overflow=10,
                         connect_args={"keepalives": 1, "keepalives_idle": 30,
                                       "keepalives_interval": 10, "keepalives_count": 3})


@functools.cache
def get_engine() -> sa.Engine:
    """The process-wide engine."""
    return make_engine(database_url())


@contextlib.contextmanager
def transaction(engine: sa.Engine | None = None) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    with Session(engine or get_engine(), expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


@contextlib.contextmanager
def read_transaction(engine: sa.Engine | None = None) -> Iterator[Session]:
    """A transaction that only reads, rolled back at the end: no write lock on SQLite,
    READ ONLY on PostgreSQL (a write in it is an error there, and may wait on SQLite)."""
    base = engine or get_engine()
    options: dict = {READ_ONLY_OPTION: True}
    if is_postgres(base):
        options["postgresql_readonly"] = True
    with Session(base.execution_options(**options), expire_on_commit=False) as session:
        try:
            yield session
        finally:
            session.rollback()


def db_now(session: Session) -> datetime:
    """The database's clock (transaction time on PostgreSQL), as aware UTC to the second.

    Everything that is billed is timed by this clock, never by the app server's. Tests may
    move it by `AETHER_APP_CLOCK_OFFSET_SECONDS` (refused in production).
    """
    if not is_postgres(session):
        raw = session.exec(sa.text("SELECT strftime('%Y-%m-%d %H:%M:%S','now')")).one()[0]
        value = datetime.fromisoformat(raw).replace(tzinfo=UTC)
    else:
        value = session.exec(sa.text("SELECT now()")).one()[0]
        value = value.astimezone(UTC).replace(microsecond=0)
    return value + clock_offset()


def clock_offset() -> timedelta:
    """How far tests moved the app's clock (`AETHER_APP_CLOCK_OFFSET_SECONDS`; 0 in
    production): `db_now` and every statement that reads the database's clock itself add it."""
    from aether_web.settings import get_settings

    seconds = get_settings().app_clock_offset_seconds
    return timedelta(seconds=seconds) if seconds else timedelta(0)


def is_postgres(bind: orm.Session | sa.Engine | sa.Connection) -> bool:
    """Whether `bind` (a session, engine or connection) is on PostgreSQL rather than SQLite:
    the one place the code asks which of the two databases it runs on."""
    if isinstance(bind, orm.Session):
        bind = bind.get_bind()
    return bind.dialect.name == "postgresql"


def dialect_insert(bind: orm.Session | sa.Engine | sa.Connection) -> Callable[..., Any]:
    """`insert` of the database in use, with its `on_conflict_do_*` clauses."""
    from sqlalchemy.dialects import postgresql, sqlite

    return postgresql.insert if is_postgres(bind) else sqlite.insert


def without_jit(session: Session) -> None:
    """Turn PostgreSQL's JIT compilation off for the rest of the session's transaction, ahead
    of a statement over every user's rows: its cost passes the thresholds for inlining and
    optimization, and compiling those takes seconds, more than they save (the daily rebuild
    at 10 million runs: 4.8 s with, 3.4 s without). Nothing on SQLite."""
    if is_postgres(session):
        session.execute(sa.text("SET LOCAL jit = off"))


# Rows a streamed read fetches at a time.
STREAM_CHUNK = 2000


def stream_rows(session: Session, statement: Any, params: dict[str, Any]) -> Iterator[tuple]:
    """The rows of a read-only `statement` as tuples, fetched `STREAM_CHUNK` at a time, so
    memory stays bounded however many rows it returns. The session runs nothing else until
    the rows are consumed; closing the iterator early reads the rest (cancelling the query
    would abort the transaction).

    On PostgreSQL through psycopg's `Cursor.stream` (libpq's chunked rows) in the session's
    transaction, not a server-side cursor: PostgreSQL plans a cursor's query without parallel
    workers, so a query over every user's rows would use one core. Elsewhere SQLAlchemy's
    own `stream_results`."""
    if not is_postgres(session):
        result = session.execute(statement, params,
                                 execution_options={"stream_results": True,
                                                    "yield_per": STREAM_CHUNK})
        try:
            yield from (tuple(row) for row in result)
        finally:
            result.close()
        return
    conn = session.connection()
    compiled = statement.compile(dialect=conn.dialect)
    state = compiled.construct_expanded_state(params)

    def bound(name: str, value: Any) -> Any:
        process = state.processors.get(name)
        if process is None and name in compiled.binds:
            process = compiled.binds[name].type.bind_processor(conn.dialect)
        return process(value) if process is not None else value

    values = {name: bound(name, value) for name, value in state.parameters.items()}
    dbapi_error = conn.dialect.loaded_dbapi.Error
    cursor = conn.connection.driver_connection.cursor()
    rows = cursor.stream(state.statement, values, size=STREAM_CHUNK)
    try:
        # Not `yield from`: closing this iterator must not close (and so cancel) `rows`.
        for row in rows:  # noqa: UP028
            yield row
    except dbapi_error as exc:  # as SQLAlchemy raises it, so callers recognise it
        raise sa.exc.DBAPIError.instance(state.statement, values, exc, dbapi_error) from exc
    finally:
        try:
            for _ in rows:
                pass
        except dbapi_error:
            pass  # the query failed or the connection went: nothing left to read
        finally:
            cursor.close()


class Sql:
    """SQL spelled differently by PostgreSQL and SQLite, for the database of `bind`."""

    def __init__(self, bind: orm.Session | sa.Engine | sa.Connection) -> None:
        self.pg = is_postgres(bind)

    @classmethod
    def for_dialect(cls, *, pg: bool) -> Sql:
        """The spellings of PostgreSQL (`pg`) or SQLite, for statements built ahead of a
        session."""
        sql = cls.__new__(cls)
        sql.pg = pg
        return sql

    def epoch(self, col: Any) -> Any:
        """Whole epoch seconds of a timestamp (sub-second part dropped)."""
        if self.pg:
            # date_part is double precision (exact to the microsecond for these epochs);
            # extract() is numeric since PostgreSQL 14, several times slower per row.
            return sa.cast(sa.func.floor(sa.func.date_part("epoch", col)), sa.BigInteger)
        return sa.cast(sa.func.strftime("%s", col), sa.BigInteger)

    def seconds_between(self, start: Any, end: Any) -> Any:
        """Whole seconds from `start` to `end` (sub-second parts dropped at both ends)."""
        return self.epoch(end) - self.epoch(start)

    def greatest(self, *args: Any) -> Any:
        return sa.func.greatest(*args) if self.pg else sa.func.max(*args)

    def least(self, *args: Any) -> Any:
        return sa.func.least(*args) if self.pg else sa.func.min(*args)

    def big(self, col: Any) -> Any:
        """Byte-seconds can pass 2^63 on PostgreSQL: add them up as numeric there."""
        return sa.cast(col, sa.Numeric(38, 0)) if self.pg else col

    def big_sum(self, col: Any) -> Any:
        """The sum of a BigInteger column that may pass 2^63, never NULL: numeric on PostgreSQL;
        SQLite's sum() raises on overflow, so total() there (a float, exact up to 2^53)."""
        return sa.func.coalesce(sa.func.sum(col), 0) if self.pg else sa.func.total(col)

    def new_uuid(self) -> Any:
        """A new random id, as the UUID columns store it."""
        if self.pg:
            return sa.func.gen_random_uuid()
        return sa.func.lower(sa.func.hex(sa.func.randomblob(16)))
