import pytest
from pydantic import ValidationError

from aether_web.settings import Settings

GOOD = {
    "AETHER_ENV": "production",
    "AETHER_SECRET_KEY": "x" * 40,
    "AETHER_HOOK_SECRETS": "a" * 24 + "," + "b" * 24,
    "STRIPE_API_KEY": "sk_live_realkey",
    "STRIPE_WEBHOOK_SECRET": "whsec_realsecret",
}


def _settings(monkeypatch, **env):
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


def test_the_app_clock_a_test_can_move_is_refused_in_production(monkeypatch):
    moved = _settings(monkeypatch, AETHER_ENV="test", AETHER_APP_CLOCK_OFFSET_SECONDS="-3600")
    assert moved.app_clock_offset_seconds == -3600
    with pytest.raises(ValidationError) as info:
        _settings(monkeypatch, **GOOD, AETHER_APP_CLOCK_OFFSET_SECONDS="-3600")
    assert "AETHER_APP_CLOCK_OFFSET_SECONDS" in str(info.value)
    monkeypatch.delenv("AETHER_APP_CLOCK_OFFSET_SECONDS")
    assert _settings(monkeypatch, **GOOD).app_clock_offset_seconds == 0
