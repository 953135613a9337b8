"""One typed settings object, read once from the environment and an optional `.env`.

Development defaults just work (SQLite, the local Stripe emulator, simulated VMs). With
`AETHER_ENV=production` the app refuses to start on a placeholder or missing secret, a Stripe
test key, or a Stripe API base other than Stripe itself (the emulator address is a development
default only).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from ipaddress import IPv4Network, IPv6Network, ip_network
from typing import Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Placeholders that are fine on a laptop and never in production.
DEV_SECRET_KEY = "dev-insecure-secret-key-change-me"
DEV_HOOK_SECRET = "dev-hook-secret"
DEV_STRIPE_KEY = "sk_test_emulator"
DEV_WEBHOOK_SECRET = "whsec_dev_emulator_secret"
EMULATOR_STRIPE_BASE = "http://127.0.0.1:12111"
STRIPE_API_HOST = "https://api.stripe.com"
DEFAULT_DB_URL = "sqlite:///aether.db"


def _env(*names: str) -> AliasChoices:
    return AliasChoices(*names)


class Settings(BaseSettings):
    """Every setting of aether_web; `.env.example` documents each one."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    env: Literal["development", "test", "production"] = Field(
        "development", validation_alias=_env("AETHER_ENV")
    )
    public_url: str = Field("http://localhost:3000", validation_alias=_env("AETHER_PUBLIC_URL"))
    # Keys the hashes that name throttle counters (services/throttle.py), so no counter key
    # holds an email or an address.
    secret_key: str = Field(DEV_SECRET_KEY, validation_alias=_env("AETHER_SECRET_KEY"))
    # A session ends at its absolute lifetime, or after this long without a request.
    session_ttl_hours: int = Field(24 * 7, validation_alias=_env("AETHER_SESSION_TTL_HOURS"))
    session_idle_minutes: int = Field(
        12 * 60, validation_alias=_env("AETHER_SESSION_IDLE_MINUTES")
    )
    # Emailed links: a password reset works once within this many minutes; a confirmation
    # link for an email address within this many hours.
    reset_token_minutes: int = Field(60, validation_alias=_env("AETHER_RESET_TOKEN_MINUTES"))
    verify_token_hours: int = Field(48, validation_alias=_env("AETHER_VERIFY_TOKEN_HOURS"))
    # Throttling (services/throttle.py): limits in the `limits` notation, ";"-separated tiers.
    login_ip_limits: str = Field("30/minute;300/hour", validation_alias=_env("AETHER_LOGIN_IP_LIMITS"))
    login_free_failures: int = Field(5, validation_alias=_env("AETHER_LOGIN_FREE_FAILURES"))
    login_backoff_max_seconds: int = Field(
        12 * 3600, validation_alias=_env("AETHER_LOGIN_BACKOFF_MAX_SECONDS"))
    signup_ip_limits: str = Field("5/10minutes;20/day", validation_alias=_env("AETHER_SIGNUP_IP_LIMITS"))
    reset_ip_limits: str = Field("5/15minutes;20/day", validation_alias=_env("AETHER_RESET_IP_LIMITS"))
    # "" = Redis when Reflex has a redis_url, else the database; or "database", "redis://...".
    throttle_storage: str = Field("", validation_alias=_env("AETHER_THROTTLE_STORAGE"))
    # Argon2 hashes at once per worker (each takes 19 MiB); more wait their turn.
    password_hash_concurrency: int = Field(
        2, ge=1, validation_alias=_env("AETHER_PASSWORD_HASH_CONCURRENCY"))

    # Usage hooks from the VM orchestrator: comma-separated so a secret can be rotated.
    hook_secrets: str = Field(DEV_HOOK_SECRET, validation_alias=_env("AETHER_HOOK_SECRETS"))
    hook_tolerance_seconds: int = Field(300, validation_alias=_env("AETHER_HOOK_TOLERANCE_SECONDS"))

    # Stripe. Unset STRIPE_API_BASE: the local emulator in development, Stripe itself in
    # production; empty: Stripe itself. Calls time out quickly (a page waits on them).
    stripe_api_key: str = Field(DEV_STRIPE_KEY, validation_alias=_env("STRIPE_API_KEY"))
    stripe_api_base: str | None = Field(None, validation_alias=_env("STRIPE_API_BASE"))
    stripe_timeout_seconds: float = Field(5.0, validation_alias=_env("STRIPE_TIMEOUT_SECONDS"))
    stripe_webhook_secret: str = Field(
        DEV_WEBHOOK_SECRET, validation_alias=_env("STRIPE_WEBHOOK_SECRET")
    )
    grace_period_days: int = Field(7, validation_alias=_env("AETHER_GRACE_PERIOD_DAYS"))

    # VMs: "simulated" runs the lifecycle locally; "fly" calls the Fly Machines API.
    vm_provider: Literal["simulated", "fly"] = Field(
        "simulated", validation_alias=_env("AETHER_VM_PROVIDER")
    )
    fly_api_base: str = Field("https://api.machines.dev", validation_alias=_env("FLY_API_BASE"))
    fly_api_token: str = Field("", validation_alias=_env("FLY_API_TOKEN"))
    fly_app_name: str = Field("aether-projects", validation_alias=_env("FLY_APP_NAME"))

    # Mail: with no SMTP host, mail goes to the local outbox table only.
    smtp_host: str = Field("", validation_alias=_env("SMTP_HOST"))
    smtp_port: int = Field(25, validation_alias=_env("SMTP_PORT"))
    smtp_username: str = Field("", validation_alias=_env("SMTP_USERNAME"))
    smtp_password: str = Field("", validation_alias=_env("SMTP_PASSWORD"))
    smtp_starttls: bool = Field(False, validation_alias=_env("SMTP_STARTTLS"))
    mail_from: str = Field("aether <billing@localhost>", validation_alias=_env("AETHER_MAIL_FROM"))

    # Security (api/security.py, api/context.py): the proxies whose X-Forwarded-For is
    # believed (comma-separated IPs or CIDRs; empty: none, the peer is the client), and the
    # bearer token of /api/metrics and /api/ready's details (empty: loopback in development).
    trusted_proxies: str = Field("", validation_alias=_env("AETHER_TRUSTED_PROXIES"))
    metrics_token: str = Field("", validation_alias=_env("AETHER_METRICS_TOKEN"))

    # Operations.
    sentry_dsn: str = Field("", validation_alias=_env("SENTRY_DSN"))
    sentry_browser_dsn: str = Field("", validation_alias=_env("SENTRY_BROWSER_DSN"))
    scheduler_enabled: bool = Field(True, validation_alias=_env("AETHER_SCHEDULER_ENABLED"))
    plausible_domain: str = Field("", validation_alias=_env("PLAUSIBLE_DOMAIN"))
    # Tests only: seconds added to the database clock (`db.db_now`), so a test can make the
    # app believe it is a given moment (a month's end). Refused in production.
    app_clock_offset_seconds: int = Field(
        0, validation_alias=_env("AETHER_APP_CLOCK_OFFSET_SECONDS"))

    plausible_script_url: str = Field(
        "https://plausible.io/js/script.js", validation_alias=_env("PLAUSIBLE_SCRIPT_URL")
    )

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def hook_secret_list(self) -> list[str]:
        """The accepted hook secrets, newest first as configured."""
        return [s.strip() for s in self.hook_secrets.split(",") if s.strip()]

    @property
    def public_origin(self) -> str:
        """scheme://host[:port] of the public URL: the one origin browsers may call us from."""
        parts = urlsplit(self.public_url)
        return f"{parts.scheme}://{parts.netloc}".lower()

    @property
    def browser_origins(self) -> list[str]:
        """The origins browsers may call us from (CORS, Origin checks, the websocket): the
        public URL's, plus, outside production, the same port on the other loopback names."""
        origin = self.public_origin
        parts = urlsplit(origin)
        origins = [origin]
        if not self.is_production and parts.hostname in ("localhost", "127.0.0.1", "::1"):
            port = f":{parts.port}" if parts.port else ""
            origins += [f"{parts.scheme}://{h}{port}" for h in ("localhost", "127.0.0.1", "[::1]")]
        return list(dict.fromkeys(origins))

    @property
    def trusted_proxy_networks(self) -> list[IPv4Network | IPv6Network]:
        return [ip_network(p.strip(), strict=False)
                for p in self.trusted_proxies.split(",") if p.strip()]

    @property
    def cookie_secure(self) -> bool:
        return self.public_url.startswith("https://")

    @property
    def uses_stripe_emulator(self) -> bool:
        return bool(self.stripe_api_base) and self.stripe_api_key == DEV_STRIPE_KEY

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Settings:
        if self.stripe_api_base is None:
            self.stripe_api_base = "" if self.is_production else EMULATOR_STRIPE_BASE
        if not self.is_production:
            return self
        problems = []
        if self.secret_key in ("", DEV_SECRET_KEY) or len(self.secret_key) < 32:
            problems.append("AETHER_SECRET_KEY must be a random value of at least 32 characters")
        secrets = self.hook_secret_list
        if not secrets or DEV_HOOK_SECRET in secrets or any(len(s) < 16 for s in secrets):
            problems.append("AETHER_HOOK_SECRETS must hold real secrets of 16+ characters")
        key = self.stripe_api_key
        if key in ("", DEV_STRIPE_KEY) or not key.startswith(("sk_live_", "rk_live_")):
            problems.append("STRIPE_API_KEY must be a live Stripe secret key (sk_live_...)")
        if (self.stripe_api_base or "").rstrip("/") not in ("", STRIPE_API_HOST):
            problems.append(f"STRIPE_API_BASE must be empty or {STRIPE_API_HOST} in production")
        webhook = self.stripe_webhook_secret
        if webhook in ("", DEV_WEBHOOK_SECRET) or webhook != webhook.strip():
            problems.append("STRIPE_WEBHOOK_SECRET must be the endpoint's signing secret")
        if self.app_clock_offset_seconds:
            problems.append("AETHER_APP_CLOCK_OFFSET_SECONDS is for tests and must be unset")
        if self.vm_provider == "fly" and not self.fly_api_token:
            problems.append("FLY_API_TOKEN is required with AETHER_VM_PROVIDER=fly")
        if problems:
            raise ValueError("unsafe production settings: " + "; ".join(problems))
        return self


def _with_driver(url: str) -> str:
    """`postgres://` and `postgresql://` (how Fly and most hosts write it) with our driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def database_url_from_env(environ: Mapping[str, str] | None = None) -> str:
    """The database URL: `REFLEX_DB_URL`, else `DATABASE_URL` (Fly sets it), else SQLite."""
    environ = os.environ if environ is None else environ
    url = environ.get("REFLEX_DB_URL") or environ.get("DATABASE_URL") or DEFAULT_DB_URL
    return _with_driver(url)


def redis_url_from_env(environ: Mapping[str, str] | None = None) -> str | None:
    """The Redis URL for Reflex's state: `REFLEX_REDIS_URL`, else `REDIS_URL`, else none."""
    environ = os.environ if environ is None else environ
    return environ.get("REFLEX_REDIS_URL") or environ.get("REDIS_URL") or None


@functools.cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
