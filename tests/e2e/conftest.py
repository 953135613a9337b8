"""End-to-end fixtures: the prod build with the Stripe emulator, and a Debian chromium page.

The server is built once per test session on a free port, with its own SQLite database and its
own web build directory, so it never disturbs a developer's running app.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import uuid
from pathlib import Path

import pytest

from tools.local_stack import ROOT, LocalStack

CHROMIUM = os.environ.get("AETHER_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-quic"]
PASSWORD = "e2e-password-123"
GOOD_CARD = "4242 4242 4242 4242"


class Server:
    """What e2e tests need of the running stack."""

    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self.url = stack.url
        self.db_url = stack.db_url
        self.stripe_url = stack.stripe_url
        from aether_web.db import make_engine

        self.engine = make_engine(stack.db_url)

    def cli(self, *args: str):
        return self.stack.cli(*args)


def _print_logs(log_dir: Path, tail: int = 6000) -> None:
    for log in sorted(log_dir.glob("*.log")):
        print(f"==== {log.name}\n{log.read_text(errors='replace')[-tail:]}")


@pytest.fixture(scope="session")
def server(request):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (make test does)")
    tmp = Path(tempfile.mkdtemp(prefix="aether-e2e-"))
    stack = LocalStack(
        db_url=f"sqlite:///{tmp / 'e2e.db'}",
        # AETHER_E2E_WEB_DIR gives parallel runs their own build directory.
        web_dir=os.environ.get("AETHER_E2E_WEB_DIR", str(ROOT / ".web-e2e")),
        log_dir=tmp / "logs",
        # Every e2e test signs up from 127.0.0.1: room for all of them.
        extra_env={"AETHER_GRACE_PERIOD_DAYS": "7", "AETHER_SIGNUP_IP_LIMITS": "1000/minute"},
    )
    try:
        stack.start()
    except Exception:
        _print_logs(tmp / "logs", 4000)
        stack.stop()
        raise
    srv = Server(stack)
    yield srv
    srv.engine.dispose()
    stack.stop()
    if request.session.testsfailed:  # what the server said, for a failure seen only in CI
        capture = request.config.pluginmanager.getplugin("capturemanager")
        with capture.global_and_fixture_disabled():
            _print_logs(tmp / "logs")
    shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


# Console messages that are not the app's errors.
IGNORED_CONSOLE = ("Download the React DevTools",)


@pytest.fixture
def page(browser, server):
    """A fresh browser context; the test fails if the browser console logs an error."""
    context = browser.new_context(base_url=server.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(20_000)
    pg = context.new_page()
    errors: list[str] = []
    # Reflex logs (not errors) a failed script sent by an event (rx.call_script, rx.toast) as
    # "_call_function ..." or "_call_script ...": those are errors too (the CSP refuses eval).
    pg.on("console", lambda m: errors.append(m.text) if (
        (m.type == "error" and not m.text.startswith(IGNORED_CONSOLE))
        or m.text.startswith(("_call_function", "_call_script"))) else None)
    pg.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    pg.console_errors = errors
    yield pg
    context.close()
    assert not errors, f"browser console errors: {errors}"


def mailed_link(server: Server, to: str, path: str) -> str:
    """The newest link to `path` in the outbox rows (the e2e stack's mail) sent to `to`."""
    from sqlmodel import Session, select

    from aether_web.models import EmailOutbox

    with Session(server.engine) as s:
        rows = s.exec(select(EmailOutbox).where(EmailOutbox.to == to)
                      .order_by(EmailOutbox.created_at)).all()
    links = [m for row in rows for m in re.findall(rf"https?://\S+{re.escape(path)}\?token=\S+",
                                                   row.body)]
    assert links, f"no {path} link mailed to {to}"
    return links[-1]


def form_ready(pg, action: str = "") -> None:
    """Wait for a posted form's page state (`data-loaded`): the remembered email fills in
    then, and typing first races it (a field typed into while it fills holds both).
    `action` names the form, after a link's in-page navigation: the URL changes before the
    new page replaces the old one, whose fields have the same ids."""
    where = f'[action="{action}"]' if action else ""
    pg.locator(f'form{where}[data-loaded="true"]').wait_for()


def checkout_pro(pg) -> None:
    """From /billing's plan chooser through the emulator's Checkout with a good card, back on
    /billing once it says the user is on Pro."""
    pg.goto("/billing?upgrade=1")
    pg.locator("#upgrade-pro").click()
    pg.wait_for_url(re.compile(r"/checkout/cs_test_"))
    pg.fill("#card-number", GOOD_CARD)
    pg.click("#pay")
    pg.locator("#billing-notice").filter(has_text="You're on Pro now").wait_for()


@pytest.fixture
def signup(server):
    """Sign up through the real form, confirm the address by the mailed link (unless
    `verify=False`) and close the first-visit welcome (unless `keep_welcome`); returns the
    new user's email."""

    def do(pg, email: str | None = None, password: str = PASSWORD, *,
           keep_welcome: bool = False, verify: bool = True) -> str:
        email = email or f"e2e-{uuid.uuid4().hex[:10]}@example.com"
        pg.goto("/signup")
        form_ready(pg)
        pg.fill("#email", email)
        pg.fill("#password", password)
        pg.click("#submit")
        pg.wait_for_url(re.compile(r"/dashboard"))
        if verify:
            pg.goto(mailed_link(server, email, "/verify-email"))
            pg.locator("#verify-done").wait_for()
            pg.goto("/dashboard")
        if not keep_welcome:
            # Every new user is welcomed once on the dashboard; dismissing it is remembered.
            pg.locator("#welcome-dismiss").click()
            pg.locator("#welcome-dialog").wait_for(state="detached")
        return email

    return do


@pytest.fixture
def login(server):
    def do(pg, email: str, password: str = PASSWORD) -> None:
        pg.goto("/login")
        form_ready(pg)
        pg.fill("#email", email)
        pg.fill("#password", password)
        pg.click("#submit")
        pg.wait_for_url(re.compile(r"/dashboard"))

    return do
