"""The operators' command line: `python -m aether_web <command>`.

Each area adds its commands through a `register(subparsers)` function in `aether_web.commands`.
"""

from __future__ import annotations

import argparse
import getpass
import importlib
import pkgutil
import sys

from aether_web.errors import AetherError


def alembic_config(url: str | None = None):
    """The project's Alembic configuration, on `url` (default: the app's database)."""
    from pathlib import Path

    from alembic.config import Config

    root = Path(__file__).resolve().parent.parent
    config = Config(str(root / "alembic.ini"))
    config.set_main_option("script_location", str(root / "alembic"))
    config.attributes["configure_logging"] = False
    if url:
        config.attributes["url"] = url
    return config


def migrate(url: str | None = None, revision: str = "heads") -> None:
    """Bring the database schema to `revision` with Alembic."""
    from alembic import command

    command.upgrade(alembic_config(url), revision)


def _cmd_db_upgrade(args: argparse.Namespace) -> int:
    migrate(revision=args.revision)
    print(f"database is at {args.revision}")
    return 0


def _cmd_create_admin(args: argparse.Namespace) -> int:
    from aether_web.db import transaction
    from aether_web.services.accounts import create_admin

    password = args.password or getpass.getpass("Password for the admin: ")
    with transaction() as session:
        profile = create_admin(session, email=args.email, password=password, name=args.name)
        print(f"admin ready: {profile.email}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m aether_web", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    db = sub.add_parser("db", help="database schema").add_subparsers(dest="db_cmd", required=True)
    up = db.add_parser("upgrade", help="apply migrations")
    up.add_argument("revision", nargs="?", default="heads")
    up.set_defaults(func=_cmd_db_upgrade)

    admin = sub.add_parser("create-admin", help="create an admin user (or promote one)")
    admin.add_argument("email")
    admin.add_argument("--name", default="")
    admin.add_argument("--password", help="prompted for when omitted")
    admin.set_defaults(func=_cmd_create_admin)

    import aether_web.commands as commands

    for module in pkgutil.iter_modules(commands.__path__):
        importlib.import_module(f"aether_web.commands.{module.name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except AetherError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
