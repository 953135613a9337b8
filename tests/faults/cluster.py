"""A PostgreSQL cluster and a Redis of the fault suite's own, so they can be stopped and
restarted without touching the machine's shared services (TOOLCHAIN.md)."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

from tools.local_stack import free_port

PG_BIN = Path(f"/usr/lib/postgresql/{os.environ.get('AETHER_FAULT_PG_VERSION', '15')}/bin")


def _as_postgres(*args: str) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else list(args)


class PrivatePostgres:
    """initdb in a temp dir, started on a free port; `restart(mode, down_for)` stops it
    ('fast' = a clean stop, 'immediate' = a crash) and starts it again."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="aether-fault-pg-"))
        self.port = free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/aether"

    def _pg_ctl(self, *args: str) -> None:
        subprocess.run(_as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.dir / "data"),
                                    *args), check=True, capture_output=True)

    def start(self) -> None:
        self._pg_ctl("-o", f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 "
                           "-c max_connections=200 -c fsync=off",
                     "-l", str(self.dir / "log"), "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        self._pg_ctl("-m", mode, "-w", "stop")

    def setup(self) -> PrivatePostgres:
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")
        subprocess.run(_as_postgres(str(PG_BIN / "initdb"), "-D", str(self.dir / "data"),
                                    "-A", "trust", "-U", "postgres"),
                       check=True, capture_output=True)
        self.start()
        admin = sa.create_engine(self.url.rsplit("/", 1)[0] + "/postgres",
                                 isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql("CREATE DATABASE aether")
        admin.dispose()
        return self

    def teardown(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)


class PrivateRedis:
    """A redis-server of our own (no persistence, like the machine's)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None

    def start(self) -> PrivateRedis:
        self.proc = subprocess.Popen(["redis-server", "--bind", "127.0.0.1", "--port",
                                      str(self.port), "--save", "", "--appendonly", "no"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                import socket

                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return self
            time.sleep(0.1)
        raise TimeoutError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None
