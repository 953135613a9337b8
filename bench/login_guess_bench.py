"""Parallel password guesses against one account, and the argon2 cap during a log-in burst.

Runs the API app in-process (as the prod server mounts it) on a fresh, migrated database:
- 40 wrong guesses sent at once at one account from one address, with the counters in the
  database and then on Redis (DB 15, a key prefix of its own): how many passwords were actually
  checked (401) and how many were refused before checking (429), beside the allowance (5) and
  the figure before throttling was atomic (26 of 40);
- 40 log-ins at once from 40 addresses: the most argon2 hashes in progress at any moment,
  beside the per-worker cap, and the wall time of the burst.

    .venv/bin/python -m bench.login_guess_bench [--database-url postgresql+psycopg://...]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BEFORE = 26  # of 40 parallel guesses were evaluated when counting was not atomic
GUESSES = 40


def _database(url: str | None) -> str:
    if url:
        return url
    return f"sqlite:///{Path(tempfile.mkdtemp(prefix='aether-bench-')) / 'bench.db'}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/15")
    args = parser.parse_args(argv)
    os.environ["REFLEX_DB_URL"] = _database(args.database_url)
    os.environ.setdefault("AETHER_SCHEDULER_ENABLED", "false")
    os.environ.setdefault("AETHER_LOGIN_IP_LIMITS", "1000/minute")

    from sqlmodel import Session
    from starlette.testclient import TestClient

    from aether_web.api.app import api_transformer
    from aether_web.api.security import security_middleware
    from aether_web.cli import migrate
    from aether_web.db import get_engine
    from aether_web.models import Profile
    from aether_web.services import passwords, throttle

    migrate(os.environ["REFLEX_DB_URL"])
    app = security_middleware(api_transformer())

    def make_user() -> str:
        email = f"bench-{uuid.uuid4().hex[:10]}@example.com"
        with Session(get_engine()) as s:
            s.add(Profile(email=email, password_hash=passwords.hash_password("right-password-1")))
            s.commit()
        return email

    def parallel(fn, n=GUESSES):
        barrier = threading.Barrier(n)

        def run(i):
            barrier.wait()
            return fn(i)

        with ThreadPoolExecutor(n) as pool:
            return list(pool.map(run, range(n)))

    def guesses(label: str) -> None:
        email = make_user()
        client = TestClient(app, client=("203.0.113.40", 40000))
        codes = parallel(lambda i: client.post("/api/auth/login", json={
            "email": email, "password": f"wrong-guess-{i:04d}"}).status_code)
        print(f"{label:>9}: {GUESSES} parallel guesses -> {codes.count(401)} checked (401), "
              f"{codes.count(429)} refused before checking (429); allowed "
              f"{get_settings().login_free_failures}, before: {BEFORE} checked")

    from aether_web.settings import get_settings

    guesses("database")
    try:
        from limits.storage import RedisStorage

        store = RedisStorage(args.redis_url, key_prefix=f"aether-bench-{uuid.uuid4().hex}",
                             wrap_exceptions=True)
        store.check()
        throttle.use_storage(store)
        try:
            guesses("redis")
        finally:
            throttle.use_storage(None)
            store.reset()
    except Exception as exc:  # no Redis here: the database figure stands alone
        print(f"    redis: skipped ({exc.__class__.__name__})")

    # The argon2 cap: count hashes in progress around the real hasher.
    running, most = [0], [0]
    lock = threading.Lock()
    real = passwords._hasher

    class Counting:
        def verify(self, stored, password):
            with lock:
                running[0] += 1
                most[0] = max(most[0], running[0])
            try:
                return real.verify(stored, password)
            finally:
                with lock:
                    running[0] -= 1

        def check_needs_rehash(self, stored):
            return real.check_needs_rehash(stored)

    email = make_user()
    passwords._hasher = Counting()  # type: ignore[assignment]
    clients = [TestClient(app, client=(f"198.51.100.{i + 1}", 40000)) for i in range(GUESSES)]
    started = time.perf_counter()
    codes = parallel(lambda i: clients[i].post("/api/auth/login", json={
        "email": email, "password": "right-password-1"}).status_code)
    took = time.perf_counter() - started
    print(f"    burst: {GUESSES} log-ins at once -> {codes.count(200)} signed in in {took:.2f} s; "
          f"at most {most[0]} argon2 hashes at a time (cap {passwords._cap()}, "
          f"about 64 MiB each: {most[0] * 64} MiB instead of {GUESSES * 64} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
