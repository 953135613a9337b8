"""Runs aether_web the way production does (prod build, one port) with its embedded defaults:
the local Stripe emulator beside it, simulated VMs, a SQLite or PostgreSQL database.

`python -m tools.local_stack` serves http://localhost:3000 (the README's run command). Tests and
benchmarks use `LocalStack` to start the same thing on free ports.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
E2E_WEBHOOK_SECRET = "whsec_dev_emulator_secret"  # settings.DEV_WEBHOOK_SECRET


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def reflex_env() -> dict[str, str]:
    """The environment every Reflex command needs on this machine."""
    env = dict(os.environ)
    tools_bin = ROOT / ".tools" / "node_modules" / ".bin"
    env["PATH"] = f"{tools_bin}{os.pathsep}{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("REFLEX_TELEMETRY_ENABLED", "false")
    env.setdefault("PYTHONUNBUFFERED", "1")  # logs reach the log file as they happen
    env.setdefault("REFLEX_CHECK_LATEST_VERSION", "false")
    env.setdefault("NPM_CONFIG_REGISTRY", "https://registry.npmjs.org/")
    return env


def server_env(workers: int = 1) -> dict[str, str]:
    """How production serves the backend (`reflex run --env prod`; deploy/Dockerfile sets the
    same): gunicorn with uvicorn workers (`aether_web.serving`: httptools with a header deadline,
    uvloop). For the usage hooks'
    small requests they take about half the CPU per request of granian's ASGI workers
    (bench/hooks_bench.py). More than one worker needs Redis for Reflex's state."""
    from aether_web.serving import gunicorn_args

    return {
        "REFLEX_USE_GRANIAN": "false",
        # The app reads X-Forwarded-For itself, from AETHER_TRUSTED_PROXIES only.
        "FORWARDED_ALLOW_IPS": "",
        "GUNICORN_CMD_ARGS": gunicorn_args(workers),
    }


class LocalStack:
    """The app's prod server plus the Stripe emulator, started and stopped together."""

    def __init__(
        self,
        *,
        port: int | None = None,
        db_url: str,
        stripe_port: int | None = None,
        web_dir: str | None = None,
        log_dir: Path | None = None,
        extra_env: dict[str, str] | None = None,
        stripe_state_file: str | None = None,
        with_stripe: bool = True,
        workers: int = 1,
        backend_only: bool = False,
    ) -> None:
        self.port = port or free_port()
        self.url = f"http://localhost:{self.port}"
        self.db_url = db_url
        self.with_stripe = with_stripe
        self.stripe_port = stripe_port or free_port()
        self.stripe_url = f"http://127.0.0.1:{self.stripe_port}"
        self.web_dir = web_dir
        self.log_dir = log_dir or (ROOT / "var" / "log")
        self.extra_env = extra_env or {}
        self.stripe_state_file = stripe_state_file
        self.workers = workers
        # The same prod server without the pages (no frontend build): for API benchmarks and
        # fault tests that never open a page.
        self.backend_only = backend_only
        # Every worker's metrics go here; a fresh directory per server (aether_web/metrics.py).
        self.metrics_dir = tempfile.mkdtemp(prefix="aether-metrics-")
        self._procs: list[subprocess.Popen] = []

    def env(self) -> dict[str, str]:
        env = reflex_env()
        env.update({
            "REFLEX_DB_URL": self.db_url,
            "REFLEX_API_URL": self.url,
            "AETHER_PUBLIC_URL": self.url,
            "STRIPE_API_BASE": self.stripe_url,
            "STRIPE_WEBHOOK_SECRET": E2E_WEBHOOK_SECRET,
            "PROMETHEUS_MULTIPROC_DIR": self.metrics_dir,
        })
        if self.web_dir:
            env["REFLEX_WEB_WORKDIR"] = self.web_dir
        env.update(server_env(self.workers))
        env.update(self.extra_env)
        return env

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 (lives as long as the process)
        proc = subprocess.Popen(args, cwd=ROOT, env=self.env(), stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        self._procs.append(proc)
        return proc

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """Run `python -m aether_web ...` against this stack's database and Stripe."""
        return subprocess.run([sys.executable, "-m", "aether_web", *args], cwd=ROOT,
                              env=self.env(), check=check, capture_output=True, text=True)

    def start(self, timeout: float = 600) -> LocalStack:
        """Migrate, start the emulator and the prod server, set up the Stripe catalogue."""
        self.cli("db", "upgrade")
        if self.with_stripe:
            args = [sys.executable, "-m", "tools.stripe_emulator", "--port", str(self.stripe_port),
                    "--webhook-url", f"{self.url}/api/billing/webhook",
                    "--webhook-secret", E2E_WEBHOOK_SECRET]
            if self.stripe_state_file:
                args += ["--state-file", self.stripe_state_file]
            self._spawn("stripe-emulator", args)
            self._wait(f"{self.stripe_url}/_emulator/health", 30)
        if self.backend_only:
            self._spawn("app", [str(VENV_BIN / "reflex"), "run", "--env", "prod",
                                "--backend-only", "--backend-port", str(self.port)])
            self._wait(f"{self.url}/api/health", timeout)
        else:
            self._spawn("app", [str(VENV_BIN / "reflex"), "run", "--env", "prod",
                                "--single-port", "--frontend-port", str(self.port),
                                "--backend-port", str(self.port)])
            self._wait(f"{self.url}/api/health", timeout)
            self._wait(f"{self.url}/", 60, want_html=True)
        if self.with_stripe:
            setup = self.cli("stripe", "setup", check=False)
            if setup.returncode != 0 and "invalid choice" not in setup.stderr:
                raise RuntimeError(f"stripe setup failed: {setup.stdout}{setup.stderr}")
        return self

    def _wait(self, url: str, timeout: float, want_html: bool = False) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for proc in self._procs:
                if proc.poll() is not None:
                    raise RuntimeError(f"{proc.args[:3]} exited with {proc.returncode}; "
                                       f"see {self.log_dir}")
            with contextlib.suppress(httpx.HTTPError):
                r = httpx.get(url, timeout=2)
                if r.status_code == 200 and (not want_html or "<html" in r.text.lower()):
                    return
            time.sleep(0.5)
        raise TimeoutError(f"{url} did not answer within {timeout:.0f}s; see {self.log_dir}")

    def stop(self) -> None:
        for proc in reversed(self._procs):
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        for proc in self._procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
        self._procs.clear()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=3000)
    parser.add_argument("--stripe-port", type=int, default=12111)
    parser.add_argument("--db-url", default=os.environ.get("REFLEX_DB_URL", "sqlite:///aether.db"))
    args = parser.parse_args(argv)
    # Ctrl-C, or a TERM from a process manager, stops the app and the emulator together.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    (ROOT / "var").mkdir(exist_ok=True)
    stack = LocalStack(port=args.port, db_url=args.db_url, stripe_port=args.stripe_port,
                       stripe_state_file=str(ROOT / "var" / "stripe-emulator.json"))
    print(f"starting aether_web at {stack.url} (first build takes a minute)...", flush=True)
    try:
        stack.start()
        print(f"aether_web is running at {stack.url}  (Stripe emulator: {stack.stripe_url}; "
              f"logs in var/log/). Press Ctrl-C to stop.", flush=True)
        while all(p.poll() is None for p in stack._procs):
            time.sleep(1)
        print("a process stopped; see var/log/", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        stack.stop()


if __name__ == "__main__":
    sys.exit(main())
