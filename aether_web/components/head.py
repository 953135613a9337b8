"""What every page's <head> carries: the favicon, and analytics and browser error tracking
only when their settings are set (nothing is loaded from a third party otherwise)."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import reflex as rx

from aether_web.components.a11y import FOCUS_RETURN_SCRIPT
from aether_web.observability import SENTRY_LOADER
from aether_web.settings import Settings, get_settings

SOCIAL_IMAGE = "/social-preview.jpg"  # 1200x630, in assets/

# Plausible's queue stub, so events sent before its script has loaded are not lost.
PLAUSIBLE_QUEUE = (
    "window.plausible = window.plausible || function () {"
    " (window.plausible.q = window.plausible.q || []).push(arguments); };"
)

# The funnel, without touching every page: a submitted sign-up form is "Signup"; a click on
# anything that leads to an upgrade (a link to /billing?upgrade=1, or an element marked
# data-analytics="upgrade") is "Upgrade click". Plausible tracks page views by itself.
FUNNEL_EVENTS = """
(function () {
  function send(name) { if (window.plausible) { window.plausible(name); } }
  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (form.getAttribute && form.getAttribute("action") === "/api/auth/signup") { send("Signup"); }
  }, true);
  document.addEventListener("click", function (e) {
    var el = e.target.closest ? e.target.closest('a[href*="upgrade=1"], [data-analytics="upgrade"]') : null;
    if (el) { send("Upgrade click"); }
  }, true);
})();
"""


# Links inside running text must not be told apart by colour alone (WCAG 1.4.1): underline them.
# Navigation, buttons and cards keep Radix's hover underline.
TEXT_LINK_STYLE = (
    "p > a.rt-Link, li > a.rt-Link, td > a.rt-Link, .rt-Text > a.rt-Link "
    "{ text-decoration-line: underline; text-underline-offset: 2px; }"
)


def sentry_public_key(dsn: str) -> str:
    """The public key of a Sentry DSN (`https://<key>@o0.ingest.sentry.io/0`), "" if none."""
    parts = urlsplit(dsn.strip())
    return parts.username or ""


def sentry_components(settings: Settings) -> list[rx.Component]:
    """Sentry's browser loader for the DSN's project, configured before it loads."""
    key = sentry_public_key(settings.sentry_browser_dsn)
    if not key:
        return []
    options = json.dumps({"environment": settings.env, "sendDefaultPii": False})
    return [
        rx.el.script(f"window.sentryOnLoad = function () {{ Sentry.init({options}); }};"),
        rx.el.script(src=SENTRY_LOADER.format(key=key), cross_origin="anonymous", defer=True),
    ]


def plausible_components(settings: Settings) -> list[rx.Component]:
    """Plausible (cookieless analytics) and the sign-up and upgrade funnel events."""
    if not settings.plausible_domain:
        return []
    return [
        rx.el.script(
            src=settings.plausible_script_url,
            defer=True,
            custom_attrs={"data-domain": settings.plausible_domain},
        ),
        rx.el.script(PLAUSIBLE_QUEUE),
        rx.el.script(FUNNEL_EVENTS),
    ]


def head_components(settings: Settings | None = None) -> list[rx.Component]:
    """The <head> additions of every page."""
    settings = settings or get_settings()
    return [
        rx.el.link(rel="icon", href="/favicon.ico", sizes="any"),
        rx.el.meta(name="theme-color", content="#6e56cf"),
        rx.el.style(TEXT_LINK_STYLE),
        rx.el.script(FOCUS_RETURN_SCRIPT),
        *plausible_components(settings),
        *sentry_components(settings),
    ]


def social_meta(title: str, description: str, path: str = "/") -> list[dict]:
    """Open Graph and Twitter card tags for a public page (pass as `@rx.page(meta=...)`).

    URLs are absolute, from AETHER_PUBLIC_URL at build time, as social sites require.
    """
    base = get_settings().public_url.rstrip("/")
    image = f"{base}{SOCIAL_IMAGE}"
    return [
        {"property": "og:type", "content": "website"},
        {"property": "og:site_name", "content": "aether"},
        {"property": "og:title", "content": title},
        {"property": "og:description", "content": description},
        {"property": "og:url", "content": f"{base}{path}"},
        {"property": "og:image:width", "content": "1200"},
        {"property": "og:image:height", "content": "630"},
        {"name": "twitter:card", "content": "summary_large_image"},
        {"name": "twitter:title", "content": title},
        {"name": "twitter:description", "content": description},
        {"name": "twitter:image", "content": image},
    ]


def social_image() -> str:
    """The absolute URL of the social preview image (`@rx.page(image=...)` sets og:image)."""
    return get_settings().public_url.rstrip("/") + SOCIAL_IMAGE
