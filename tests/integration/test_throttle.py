"""Throttling that protects the user: what a password-guessing stranger tries, and fails at."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from starlette.testclient import TestClient

from aether_web.api.app import api_transformer
from aether_web.api.security import security_middleware
from aether_web.errors import RateLimited
from aether_web.services import passwords, throttle
from aether_web.services.throttle_storage import DatabaseStorage

RIGHT = "correct-horse-battery"


@pytest.fixture
def from_ip(engine):
    """A client whose TCP peer is `ip` (as a browser connecting straight to the server)."""
    clients = []

    def make(ip: str) -> TestClient:
        client = TestClient(security_middleware(api_transformer()), client=(ip, 40000),
                            raise_server_exceptions=False)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def clock(engine):
    """The database counters on a clock the test moves."""
    now = [1_000_000.0]
    throttle.use_storage(DatabaseStorage(clock=lambda: now[0]))
    yield now
    throttle.use_storage(None)


def _login(client, email, password):
    return client.post("/api/auth/login", json={"email": email, "password": password})


def test_a_strangers_guesses_never_lock_the_real_user_out(from_ip, make_user):
    user = make_user(email="admin@example.com")
    stranger, owner = from_ip("203.0.113.66"), from_ip("198.51.100.7")
    answers = [_login(stranger, user.email, f"guess-{i}-xxxxxx").status_code for i in range(12)]
    assert answers[:5] == [401] * 5 and set(answers[5:]) == {429}
    refused = _login(stranger, user.email, RIGHT)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert refused.json()["error"]["code"] == "too_many_attempts"
    # The owner, from their own address, gets straight in.
    ok = _login(owner, user.email, RIGHT)
    assert ok.status_code == 200 and ok.json()["user"]["email"] == user.email


def test_one_address_spraying_many_accounts_is_limited_per_address(from_ip):
    """One guess each at many accounts never meets an account's backoff: the address's own
    limit (AETHER_LOGIN_IP_LIMITS, 30 a minute) stops it, and no one else."""
    sprayer = from_ip("203.0.113.44")
    answers = [_login(sprayer, f"user{i}@example.com", "Summer2024!!").status_code
               for i in range(31)]
    assert answers == [401] * 30 + [429]
    assert _login(from_ip("198.51.100.44"), "user0@example.com",
                  "Summer2024!!").status_code == 401


def test_forged_forwarded_for_does_not_reset_the_count(from_ip, make_user):
    user = make_user()
    stranger = from_ip("203.0.113.66")
    codes = [stranger.post("/api/auth/login", json={"email": user.email, "password": "wrong-1234567"},
                           headers={"X-Forwarded-For": f"10.9.8.{i}"}).status_code
             for i in range(8)]
    assert codes[:5] == [401] * 5 and set(codes[5:]) == {429}


def test_backoff_doubles_and_never_becomes_a_hard_lock(clock):
    email, ip = "victim@example.com", "203.0.113.9"
    allowed_at = []
    while len(allowed_at) < 9:
        try:
            throttle.check_login(email=email, ip=ip)
            allowed_at.append(clock[0] - 1_000_000.0)
        except RateLimited as exc:
            assert exc.details["retry_after"] >= 1
            clock[0] += exc.details["retry_after"]
    # Five free tries, then the n-th extra failure waits until 60 * 2**(n-1) s have passed.
    assert allowed_at[:5] == [0.0] * 5
    for n, at in enumerate(allowed_at[5:], start=1):
        assert at >= 60 * 2 ** (n - 1)
    assert allowed_at[-1] < 24 * 3600  # still admitted: a wait, not a lock


def test_an_address_over_its_limit_is_refused_without_counting_until_its_window_ends(clock):
    ip = "203.0.113.77"
    # 30 a minute from one address (each to another account: no backoff involved)
    for i in range(30):
        throttle.check_login(email=f"user-{i}@example.com", ip=ip)
    with pytest.raises(RateLimited) as first:
        throttle.check_login(email="user-30@example.com", ip=ip)
    store, hits = throttle.storage(), []
    real_incr = store.incr
    store.incr = lambda *a, **k: hits.append(a) or real_incr(*a, **k)
    try:
        clock[0] += 10
        for i in range(50):  # a burst from that address: refused here, the counters untouched
            with pytest.raises(RateLimited) as exc:
                throttle.check_login(email=f"burst-{i}@example.com", ip=ip)
        assert hits == []
        assert exc.value.details["retry_after"] == first.value.details["retry_after"] - 10
        throttle.check_login(email="other@example.com", ip="198.51.100.8")  # others count
        assert len(hits) == 2 + len(throttle.backoff_tiers())  # its address and account tiers
        clock[0] += exc.value.details["retry_after"]  # the minute's window ends
        throttle.check_login(email="user-31@example.com", ip=ip)
    finally:
        store.incr = real_incr


def test_a_refusal_whose_window_has_room_again_is_not_remembered(clock, monkeypatch):
    """Between a refused hit and reading its window, another worker may begin the next
    window: that refusal must not hold the address until the new window ends."""
    from limits.strategies import FixedWindowRateLimiter
    from limits.util import WindowStats

    ip = "203.0.113.78"
    for i in range(30):
        throttle.check_login(email=f"u-{i}@example.com", ip=ip)
    monkeypatch.setattr(FixedWindowRateLimiter, "get_window_stats",
                        lambda self, item, *ids: WindowStats(clock[0] + 3600, 29))
    with pytest.raises(RateLimited):
        throttle.check_login(email="u-30@example.com", ip=ip)
    assert throttle._REFUSED == {}
    monkeypatch.undo()
    clock[0] += 61  # the minute's window ends: admitted, nothing held it back
    throttle.check_login(email="u-31@example.com", ip=ip)


def test_a_right_password_clears_the_backoff_for_that_address_only(clock):
    email = "owner@example.com"
    for _ in range(5):
        throttle.check_login(email=email, ip="198.51.100.7")
    throttle.login_succeeded(email=email, ip="198.51.100.7")
    for _ in range(5):  # five fresh tries again
        throttle.check_login(email=email, ip="198.51.100.7")
    with pytest.raises(RateLimited):
        throttle.check_login(email=email, ip="198.51.100.7")


def test_ipv6_addresses_of_one_block_count_together(clock):
    for i in range(5):
        throttle.check_login(email="v6@example.com", ip=f"2001:db8:1:2::{i + 1:x}")
    with pytest.raises(RateLimited):
        throttle.check_login(email="v6@example.com", ip="2001:db8:1:2:ffff::1")
    throttle.check_login(email="v6@example.com", ip="2001:db8:1:3::1")  # another block


def _parallel_admitted(n: int = 40) -> int:
    barrier = threading.Barrier(n)

    def attempt(_):
        barrier.wait()
        try:
            throttle.check_login(email="target@example.com", ip="203.0.113.40")
            return 1
        except RateLimited:
            return 0

    with ThreadPoolExecutor(n) as pool:
        return sum(pool.map(attempt, range(n)))


def test_forty_parallel_guesses_get_five_evaluated_in_the_database(engine):
    assert _parallel_admitted() == 5


def test_forty_parallel_guesses_get_five_evaluated_on_redis(engine):
    redis = pytest.importorskip("redis")
    try:
        redis.Redis.from_url("redis://127.0.0.1:6379/15").ping()
    except redis.exceptions.ConnectionError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    from limits.storage import RedisStorage

    store = RedisStorage("redis://127.0.0.1:6379/15", key_prefix=f"aether-test-{uuid.uuid4().hex}",
                         wrap_exceptions=True)
    throttle.use_storage(store)
    try:
        assert _parallel_admitted() == 5
        with pytest.raises(RateLimited):
            throttle.check_login(email="target@example.com", ip="203.0.113.40")
    finally:
        throttle.use_storage(None)
        store.reset()


def test_forty_parallel_http_guesses_get_at_most_five_evaluated(from_ip, make_user):
    user = make_user()
    client = from_ip("203.0.113.41")
    barrier = threading.Barrier(40)

    def guess(i):
        barrier.wait()
        return _login(client, user.email, f"wrong-guess-{i:04d}").status_code

    with ThreadPoolExecutor(40) as pool:
        codes = list(pool.map(guess, range(40)))
    assert codes.count(401) <= 5 and codes.count(401) + codes.count(429) == 40


def test_redis_down_falls_back_to_the_database(engine):
    from limits.storage import RedisStorage

    throttle.use_storage(RedisStorage("redis://127.0.0.1:1/0", wrap_exceptions=True,
                                      socket_connect_timeout=0.5))
    try:
        for _ in range(5):
            throttle.check_login(email="x@example.com", ip="203.0.113.5")
        with pytest.raises(RateLimited):
            throttle.check_login(email="x@example.com", ip="203.0.113.5")
    finally:
        throttle.use_storage(None)


def test_signups_are_limited_per_address(from_ip):
    client = from_ip("203.0.113.77")
    answers = [client.post("/api/auth/signup", json={"email": f"s{i}@example.com",
                                                     "password": "long-password-1"})
               for i in range(7)]
    assert [a.status_code for a in answers] == [200] * 5 + [429, 429]
    assert int(answers[-1].headers["Retry-After"]) > 60
    assert answers[-1].json()["error"]["code"] == "too_many_attempts"
    assert from_ip("198.51.100.8").post(
        "/api/auth/signup", json={"email": "other@example.com",
                                  "password": "long-password-1"}).status_code == 200


def test_asking_whether_addresses_are_taken_is_held_to_the_sign_up_limit(from_ip, make_user,
                                                                         engine):
    """Sign-up answers 409 for a taken address (docs/architecture.md, decided): an enumerator
    gets 5 answers per 10 minutes per address, and the account it probes is left alone."""
    from sqlmodel import Session, select

    from aether_web.models import AuthSession, EmailOutbox

    owner = make_user(email="owner@example.com")
    with Session(engine) as s:
        mails = len(s.exec(select(EmailOutbox)).all())
    prober = from_ip("203.0.113.91")
    probes = ["owner@example.com", "nobody@example.com", "owner@example.com", "OWNER@example.com",
              "owner@example.com", "owner@example.com", "nobody-else@example.com"]
    answers = [prober.post("/api/auth/signup", json={"email": email,
                                                     "password": "long-password-1"})
               for email in probes]
    assert [a.status_code for a in answers] == [409, 200, 409, 409, 409, 429, 429]
    assert answers[0].json()["error"]["code"] == "email_taken"
    with Session(engine) as s:
        # The one new account's confirmation mail; nothing to the owner, no session of theirs.
        assert len(s.exec(select(EmailOutbox)).all()) == mails + 1
        assert s.exec(select(AuthSession).where(AuthSession.user_id == owner.id)).all() == []


def test_reset_requests_are_limited_per_address(clock):
    for _ in range(5):
        throttle.check("password_reset", ip="203.0.113.3")
    with pytest.raises(RateLimited) as refused:
        throttle.check("password_reset", ip="203.0.113.3")
    assert refused.value.details["retry_after"] > 60
    throttle.check("password_reset", ip="203.0.113.4")


def test_passwords_are_hashed_and_verified_outside_any_transaction(monkeypatch, api, make_user):
    import aether_web.api.context as context

    open_now = [0]
    seen: list[int] = []
    real_transaction = context.transaction

    def counting_transaction(*args, **kwargs):
        manager = real_transaction(*args, **kwargs)

        class Counted:
            def __enter__(self):
                open_now[0] += 1
                return manager.__enter__()

            def __exit__(self, *exc):
                open_now[0] -= 1
                return manager.__exit__(*exc)

        return Counted()

    real_verify, real_hash = passwords.verify_password, passwords.hash_password
    monkeypatch.setattr(context, "transaction", counting_transaction)
    monkeypatch.setattr(passwords, "verify_password",
                        lambda *a: (seen.append(open_now[0]), real_verify(*a))[1])
    monkeypatch.setattr(passwords, "hash_password",
                        lambda *a: (seen.append(open_now[0]), real_hash(*a))[1])
    user = make_user()
    assert _login(api, user.email, RIGHT).status_code == 200
    assert api.post("/api/auth/signup", json={"email": "new@example.com",
                                              "password": "long-password-1"}).status_code == 200
    assert len(seen) == 2 and seen == [0, 0]


def test_hashing_is_capped_per_worker(monkeypatch, from_ip, make_user):
    import time

    running, most = [0], [0]
    lock = threading.Lock()

    class SlowHasher:
        def verify(self, stored, password):
            with lock:
                running[0] += 1
                most[0] = max(most[0], running[0])
            time.sleep(0.05)
            with lock:
                running[0] -= 1
            raise passwords.VerificationError()

        def check_needs_rehash(self, stored):
            return False

    monkeypatch.setattr(passwords, "_hasher", SlowHasher())
    user = make_user()
    clients = [from_ip(f"203.0.113.{100 + i}") for i in range(12)]
    with ThreadPoolExecutor(12) as pool:
        codes = list(pool.map(lambda c: _login(c, user.email, "wrong-password-x").status_code,
                              clients))
    assert codes == [401] * 12
    assert 1 <= most[0] <= passwords._cap() == 2


def test_a_hash_from_the_older_profile_still_signs_in_and_is_replaced(from_ip, make_user,
                                                                      engine):
    from argon2 import PasswordHasher
    from sqlmodel import Session

    from aether_web.models import Profile

    # The library's RFC 9106 low-memory profile (64 MiB, t=3, p=4), as hashes were made before.
    older = PasswordHasher(time_cost=3, memory_cost=64 * 1024, parallelism=4).hash(RIGHT)
    user = make_user(password_hash=older)
    ok = _login(from_ip("198.51.100.8"), user.email, RIGHT)
    assert ok.status_code == 200
    with Session(engine) as s:
        stored = s.get(Profile, user.id).password_hash
    assert stored != older and stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert passwords.verify_password(stored, RIGHT) == (True, False)
    assert passwords.verify_password(stored, "not-the-password") == (False, False)
