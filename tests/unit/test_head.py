"""The <head> additions: third-party scripts only when their settings are set."""

from __future__ import annotations

from aether_web.components.head import head_components, sentry_public_key, social_meta
from aether_web.settings import Settings


def _html(settings: Settings) -> str:
    return "\n".join(str(c) for c in head_components(settings))


def test_nothing_third_party_by_default():
    html = _html(Settings())
    assert "favicon.ico" in html
    assert "plausible" not in html.lower()
    assert "sentry" not in html.lower()


def test_plausible_only_with_a_domain():
    html = _html(Settings(plausible_domain="aether.dev",
                          plausible_script_url="https://stats.example.com/js/script.js"))
    assert "https://stats.example.com/js/script.js" in html
    assert "aether.dev" in html
    assert "Signup" in html and "Upgrade click" in html
    assert "sentry" not in html.lower()


def test_sentry_loader_only_with_a_browser_dsn():
    dsn = "https://abc123def@o1.ingest.sentry.io/42"
    assert sentry_public_key(dsn) == "abc123def"
    assert sentry_public_key("") == ""
    html = _html(Settings(sentry_browser_dsn=dsn))
    assert "https://js.sentry-cdn.com/abc123def.min.js" in html
    assert "plausible" not in html.lower()
    # The backend DSN alone never puts Sentry in the browser.
    assert "sentry" not in _html(Settings(sentry_dsn=dsn)).lower()


def test_social_meta_is_absolute():
    tags = {t.get("property") or t.get("name"): t["content"]
            for t in social_meta("T", "D", "/pricing")}
    assert tags["og:title"] == "T" and tags["twitter:description"] == "D"
    assert tags["og:url"].startswith("http") and tags["og:url"].endswith("/pricing")
    assert tags["twitter:image"].startswith("http")
    assert tags["twitter:card"] == "summary_large_image"
