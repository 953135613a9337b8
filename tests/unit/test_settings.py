import pytest
from pydantic import ValidationError

from aether_web.settings import (
    EMULATOR_STRIPE_BASE,
    Settings,
    database_url_from_env,
    redis_url_from_env,
)

GOOD = {
    "AETHER_ENV": "production",
    "AETHER_SECRET_KEY": "x" * 40,
    "AETHER_HOOK_SECRETS": "a" * 24 + "," + "b" * 24,
    "STRIPE_API_KEY": "sk_live_realkey",
    "STRIPE_WEBHOOK_SECRET": "whsec_realsecret",
}


def _settings(monkeypatch, **env):
    """Settings from exactly `env`: what an earlier test (a session fixture pointing Stripe at
    its emulator) left in the process environment does not count."""
    import os

    for key in list(os.environ):
        if key.startswith(("AETHER_", "STRIPE_")) and key not in env:
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return Settings(_env_file=None)


def test_development_defaults_just_work(monkeypatch):
    monkeypatch.delenv("AETHER_ENV", raising=False)
    s = _settings(monkeypatch, AETHER_ENV="development")
    assert s.vm_provider == "simulated"
    assert s.uses_stripe_emulator


def test_production_accepts_real_secrets(monkeypatch):
    s = _settings(monkeypatch, **GOOD)
    assert s.is_production and s.hook_secret_list == ["a" * 24, "b" * 24]


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [
        ("AETHER_SECRET_KEY", "dev-insecure-secret-key-change-me", "AETHER_SECRET_KEY"),
        ("AETHER_SECRET_KEY", "short", "AETHER_SECRET_KEY"),
        ("STRIPE_API_KEY", "sk_test_51abcdef", "STRIPE_API_KEY"),
        ("STRIPE_API_KEY", "rk_test_51abcdef", "STRIPE_API_KEY"),
        ("STRIPE_API_BASE", EMULATOR_STRIPE_BASE, "STRIPE_API_BASE"),
        ("STRIPE_API_BASE", "https://stripe.example.com", "STRIPE_API_BASE"),
        ("AETHER_HOOK_SECRETS", "dev-hook-secret", "AETHER_HOOK_SECRETS"),
        ("STRIPE_API_KEY", "sk_test_emulator", "STRIPE_API_KEY"),
        ("STRIPE_WEBHOOK_SECRET", "", "STRIPE_WEBHOOK_SECRET"),
        ("STRIPE_WEBHOOK_SECRET", "whsec_realsecret ", "STRIPE_WEBHOOK_SECRET"),
    ],
)
def test_production_refuses_placeholders(monkeypatch, key, value, fragment):
    env = dict(GOOD)
    env[key] = value
    with pytest.raises(ValidationError) as info:
        _settings(monkeypatch, **env)
    assert fragment in str(info.value)


def test_emulator_is_the_development_default_only(monkeypatch):
    monkeypatch.delenv("STRIPE_API_BASE", raising=False)
    assert _settings(monkeypatch, AETHER_ENV="development").stripe_api_base == EMULATOR_STRIPE_BASE
    assert _settings(monkeypatch, AETHER_ENV="test").stripe_api_base == EMULATOR_STRIPE_BASE
    prod = _settings(monkeypatch, **GOOD)
    assert prod.stripe_api_base == "" and not prod.uses_stripe_emulator


@pytest.mark.parametrize("base", ["", "https://api.stripe.com", "https://api.stripe.com/"])
def test_production_accepts_stripe_itself(monkeypatch, base):
    assert _settings(monkeypatch, **GOOD, STRIPE_API_BASE=base).is_production


def test_development_may_point_anywhere(monkeypatch):
    s = _settings(monkeypatch, AETHER_ENV="development", STRIPE_API_BASE="http://127.0.0.1:9")
    assert s.stripe_api_base == "http://127.0.0.1:9"


def test_secret_key_is_used_by_something():
    # A required secret must have a use: the throttle keys its counter names with it.
    from pathlib import Path

    source = (Path(__file__).resolve().parents[2] / "aether_web/services/throttle.py").read_text()
    assert "secret_key" in source


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "sqlite:///aether.db"),
        ({"DATABASE_URL": "postgres://u:p@db.internal:5432/aether?sslmode=disable"},
         "postgresql+psycopg://u:p@db.internal:5432/aether?sslmode=disable"),
        ({"DATABASE_URL": "postgresql://u@h/d"}, "postgresql+psycopg://u@h/d"),
        ({"DATABASE_URL": "postgresql+psycopg://u@h/d"}, "postgresql+psycopg://u@h/d"),
        ({"DATABASE_URL": "postgres://u@h/fly", "REFLEX_DB_URL": "sqlite:///x.db"},
         "sqlite:///x.db"),
    ],
)
def test_database_url_honours_fly(env, expected):
    assert database_url_from_env(env) == expected


def test_redis_url_honours_fly():
    assert redis_url_from_env({}) is None
    assert redis_url_from_env({"REDIS_URL": "redis://default:pw@r:6379"}) == "redis://default:pw@r:6379"
    assert redis_url_from_env({"REDIS_URL": "redis://a", "REFLEX_REDIS_URL": "redis://b"}) == "redis://b"


def test_stripe_client_times_out_quickly(monkeypatch):
    from aether_web.integrations.stripe.client import make_client

    client = make_client(_settings(monkeypatch, AETHER_ENV="development"))
    http = client._requestor._client
    assert http._timeout.read <= 10 and http._timeout.connect <= 2


def test_the_app_clock_a_test_can_move_is_refused_in_production(monkeypatch):
    moved = _settings(monkeypatch, AETHER_ENV="test", AETHER_APP_CLOCK_OFFSET_SECONDS="-3600")
    assert moved.app_clock_offset_seconds == -3600
    with pytest.raises(ValidationError) as info:
        _settings(monkeypatch, **GOOD, AETHER_APP_CLOCK_OFFSET_SECONDS="-3600")
    assert "AETHER_APP_CLOCK_OFFSET_SECONDS" in str(info.value)
    monkeypatch.delenv("AETHER_APP_CLOCK_OFFSET_SECONDS")
    assert _settings(monkeypatch, **GOOD).app_clock_offset_seconds == 0
