"""Alembic environment: the app's tables and database URL (REFLEX_DB_URL / rxconfig.py)."""

from logging.config import fileConfig

import sqlalchemy as sa
from sqlalchemy import pool
from sqlmodel import SQLModel

import aether_web.models  # noqa: F401  (registers every table)
from aether_web.db import database_url
from aether_web.models.types import UTCDateTime
from alembic import context

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logging", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = SQLModel.metadata


def _render_item(type_, obj, autogen_context):  # noqa: ANN001, ANN202
    """Render the app's own column types as plain SQLAlchemy types in migrations."""
    autogen_context.imports.add("import sqlmodel")
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _url() -> str:
    return config.attributes.get("url") or database_url()


def run_migrations_offline() -> None:
    context.configure(
        url=_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        render_item=_render_item,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = sa.create_engine(_url(), poolclass=pool.NullPool)
    with engine.connect() as connection:
        _run(connection)


def _run(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_item=_render_item,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
