"""The usage dashboard in the browser: bars equal the API, the 80% warning, the limit dialog
leading to Checkout, and history with invoices after a billing period closes."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from aether_web.models import PlanIntervalRow, Profile, Project, Run, UsageMonthly
from aether_web.state.usage_view import compute_used, hours_text, number

pytestmark = pytest.mark.e2e

GOOD_CARD = "4242 4242 4242 4242"
HOUR = 3600


def _profile(server, email: str) -> Profile:
    with Session(server.engine, expire_on_commit=False) as s:
        return s.exec(select(Profile).where(Profile.email == email)).one()


def _seed(server, email: str, *, hours_this_month: float, runs: int = 0,
          storage_bytes: int = 0, projects: int = 1) -> Profile:
    """Projects and this month's compute, as the ledger would hold them: `runs` closed runs
    today plus the rest as runs since the month began (usage_records, and the usage_monthly
    cache holding the same seconds)."""
    user = _profile(server, email)
    now = datetime.now(UTC).replace(microsecond=0)
    today = now.replace(hour=0, minute=0, second=0)
    with Session(server.engine) as s:
        made = [Project(user_id=user.id, name=f"seeded-{i}",
                        storage_bytes=storage_bytes if i == 0 else 0) for i in range(projects)]
        s.add_all(made)
        s.flush()
        recorded = 0
        for i in range(runs):
            start = today + timedelta(minutes=10 * i)
            end = min(start + timedelta(minutes=5), now)
            if end <= start:
                break
            s.add(Run(project_id=made[0].id, user_id=user.id, started_at=start,
                              ended_at=end, last_heartbeat_at=end,
                              duration_seconds=int((end - start).total_seconds())))
            recorded += int((end - start).total_seconds())
        # The rest of the month's hours as closed runs side by side since the month began
        # (the period bill prices runs; usage_monthly is only their cache), and a paid plan
        # held since the month began, as if the checkout had happened then.
        start = datetime(now.year, now.month, 1, tzinfo=UTC)
        room = int((now - start).total_seconds()) - 60
        rest = int(hours_this_month * HOUR) - recorded
        if rest > 0 and room < 600:
            pytest.skip("the month began moments ago: its hours cannot fit before now")
        # usage_monthly caches the same seconds, as closing those runs would have left it
        s.add(UsageMonthly(user_id=user.id, month=start.date(),
                           compute_seconds=recorded + max(rest, 0)))
        while rest > 0:
            seconds = min(rest, room)
            s.add(Run(project_id=made[0].id, user_id=user.id, started_at=start,
                              ended_at=start + timedelta(seconds=seconds),
                              last_heartbeat_at=start + timedelta(seconds=seconds),
                              duration_seconds=seconds))
            rest -= seconds
        if user.plan != "free":
            s.execute(sa.delete(PlanIntervalRow).where(PlanIntervalRow.user_id == user.id))
            s.add(PlanIntervalRow(user_id=user.id, plan=user.plan, cause="checkout",
                                  started_at=start - timedelta(days=1)))
        s.commit()
    return user


def _api_usage(page) -> dict:
    response = page.request.get("/api/billing/usage")
    assert response.status == 200, response.text()
    return response.json()


def test_bars_and_numbers_match_the_usage_api(page, server, signup):
    email = signup(page)
    _seed(server, email, hours_this_month=0, runs=6, storage_bytes=250_000_000, projects=2)
    page.goto("/billing")
    page.locator("#usage-compute-text").filter(has_text=re.compile(r"\d")).wait_for()
    api = _api_usage(page)
    usage, limits = api["usage"], api["limits"]
    assert usage["compute_seconds"] > 0 and usage["project_count"] == 2

    # 30 minutes of runs read "30 min", not "0.5 h" (durations under an hour in minutes).
    compute = (f"{compute_used(usage['compute_seconds'], usage['compute_hours'])} / "
               f"{number(limits['compute_hours'])} h")
    assert page.inner_text("#usage-compute-text") == compute
    assert page.inner_text("#usage-compute-percent") == f"{usage['compute_percent']}%"
    assert page.inner_text("#usage-storage-text") == \
        f"{number(usage['storage_gb'])} / {number(limits['storage_gb'])} GB"
    assert page.inner_text("#usage-storage-percent") == f"{usage['storage_percent']}%"
    assert page.inner_text("#usage-projects-text") == f"2 / {limits['max_projects']}"
    assert page.get_attribute("#usage-compute", "data-level") == usage["compute_level"]
    bar = page.locator("#usage-compute [role=progressbar]")
    assert bar.get_attribute("aria-valuenow") == str(min(usage["compute_percent"], 100))
    assert page.inner_text("#header-usage-text") == compute
    assert page.inner_text("#plan-badge") == "FREE"

    # The daily chart draws today's runs; the history row of this month says the same hours.
    page.locator("#daily-chart .recharts-bar-rectangle").first.wait_for()
    this_month = page.locator(f".history-row[data-month='{api['history'][0]['month']}']")
    assert this_month.locator(".history-hours").inner_text() == \
        hours_text(api["history"][0]["compute_hours"])
    assert page.locator("#usage-warning").count() == 0


def test_a_new_user_sees_empty_states_and_the_welcome_once(page, signup):
    signup(page, keep_welcome=True)
    dialog = page.locator("#welcome-dialog")
    dialog.wait_for()
    assert page.locator("#welcome-docs").get_attribute("href") == "/docs"
    page.click("#welcome-dismiss")
    dialog.wait_for(state="detached")
    page.reload()
    page.locator("#empty-state").wait_for()
    page.wait_for_timeout(500)
    assert page.locator("#welcome-dialog").count() == 0

    page.goto("/billing")
    page.locator("#usage-empty").wait_for()
    assert "Start building to see usage" in page.inner_text("#usage-empty")
    assert page.inner_text("#usage-compute-text") == "0 / 50 h"
    page.locator("#no-invoices").wait_for()


def test_usage_at_85_percent_shows_the_warning(page, server, signup):
    email = signup(page)
    _seed(server, email, hours_this_month=42.5)
    page.goto("/dashboard")
    warning = page.locator("#usage-warning")
    warning.wait_for()
    assert warning.get_attribute("data-level") == "warning"
    assert "85% of your Free plan's compute hours" in warning.inner_text()
    assert page.locator("#usage-warning-upgrade").is_visible()
    assert page.get_attribute("#header-usage", "data-level") == "warning"

    page.goto("/billing")
    page.locator("#usage-compute-text").filter(has_text="42.5 / 50 h").wait_for()
    assert page.inner_text("#usage-compute-percent") == "85%"
    assert page.get_attribute("#usage-compute", "data-level") == "warning"
    page.locator("#usage-warning").wait_for()


def test_starting_a_vm_at_the_limit_opens_the_limit_dialog_leading_to_checkout(
        page, server, signup):
    email = signup(page)
    _seed(server, email, hours_this_month=50)
    page.goto("/dashboard")
    page.locator("#usage-warning[data-level=limit]").wait_for()
    assert "VMs can't start again until" in page.inner_text("#usage-warning")

    page.locator(".project-card .vm-start").first.click()
    message = page.locator("#limit-message")
    message.wait_for()
    assert "compute hours" in message.inner_text()
    assert page.locator(".project-card .vm-state").first.inner_text() == "stopped"

    page.click("#limit-upgrade")
    page.wait_for_url(re.compile(r"/billing/?\?upgrade=1"))
    chooser = page.locator("#plan-chooser")
    chooser.wait_for()
    assert chooser.locator(".plan-card").count() == 3
    assert chooser.locator("#current-free").is_disabled()
    page.click("#upgrade-pro")
    page.wait_for_url(re.compile(r"/checkout/cs_test_"))
    assert "Pro" in page.inner_text("h1")
    assert page.locator("#pay").is_visible()


def test_history_and_invoices_after_a_period_closes(page, server, signup):
    email = signup(page)
    page.goto("/billing?upgrade=1")
    page.click("#upgrade-pro")
    page.wait_for_url(re.compile(r"/checkout/cs_test_"))
    page.fill("#card-number", GOOD_CARD)
    page.click("#pay")
    page.locator("#billing-notice").filter(has_text="You're on Pro now").wait_for()

    # 202 h this month: 2 h over Pro's 200, which is $0.20 of overage.
    _seed(server, email, hours_this_month=202)
    user = _profile(server, email)
    closed = httpx.post(
        f"{server.stripe_url}/_emulator/subscriptions/{user.stripe_subscription_id}"
        "/close_period", json={})
    closed.raise_for_status()
    invoice_id = closed.json()["invoice"]["id"]

    for _ in range(40):  # the invoice webhooks land within moments
        page.goto("/billing")
        page.locator("#invoices-section").wait_for()
        if page.locator(f"#invoices a[href$='/invoices/{invoice_id}']").count():
            break
        page.wait_for_timeout(250)
    rows = page.locator("#invoices tbody tr")
    assert rows.count() == 2
    assert all("Paid" in text for text in rows.all_inner_texts())
    link = page.locator(f"#invoices a[href$='/invoices/{invoice_id}']")
    assert link.inner_text() == "View or download PDF"  # Stripe's page has the PDF
    # The card on file and the renewal date come from Stripe; the Portal changes them.
    page.locator("#card-on-file").wait_for()
    assert "ending in 4242" in page.inner_text("#card-on-file")
    assert page.inner_text("#renewal-date").startswith("Renews on ")
    # Usage per project and the CSV downloads.
    page.locator("#project-usage-section .project-line, #project-usage-empty").first.wait_for()
    runs_csv = page.request.get(page.get_attribute("#csv-runs", "href"))
    assert runs_csv.status == 200 and runs_csv.text().startswith("project,project_id,")
    months_csv = page.request.get(page.get_attribute("#csv-months", "href"))
    assert months_csv.status == 200 and months_csv.text().startswith("month,compute_hours,")

    history = page.locator(".history-row").first
    assert history.locator(".history-hours").inner_text() == "202 h"
    assert history.locator(".history-cost").inner_text() == "$0.20"
    assert history.locator(".history-explanation").inner_text() == "(2 h overage)"
    assert page.inner_text("#overage-so-far") == "$0.20"
    assert page.inner_text("#overage-explanation") == "2 h overage"
    next_total = page.locator("#next-invoice-total")
    next_total.wait_for()
    # Pro for the next period from Stripe's preview, plus the 2 h counted so far.
    assert next_total.inner_text() == "$20.20"
    assert "$0.20 overage so far" in page.inner_text("#next-invoice-detail")
    assert page.get_attribute("#usage-compute", "data-level") == "limit"
    assert "You can keep going" in page.inner_text("#usage-warning")


def test_a_failed_payment_shows_the_past_due_banner_leading_to_the_portal(page, server, signup):
    email = signup(page)
    page.goto("/billing?upgrade=1")
    page.click("#upgrade-pro")
    page.wait_for_url(re.compile(r"/checkout/cs_test_"))
    page.fill("#card-number", GOOD_CARD)
    page.click("#pay")
    page.locator("#billing-notice").filter(has_text="You're on Pro now").wait_for()
    user = _profile(server, email)
    httpx.post(f"{server.stripe_url}/_emulator/customers/{user.stripe_customer_id}/card",
               json={"card": "4000000000000002"}).raise_for_status()
    httpx.post(f"{server.stripe_url}/_emulator/subscriptions/{user.stripe_subscription_id}"
               "/close_period", json={}).raise_for_status()

    for _ in range(40):  # the payment_failed webhook lands within moments
        if _profile(server, email).past_due_since is not None:
            break
        page.wait_for_timeout(250)
    page.goto("/dashboard")
    banner = page.locator("#app-past-due-banner")
    banner.wait_for()
    assert "We couldn't charge your card" in banner.inner_text()
    assert page.inner_text("#plan-badge") == "PRO"  # kept through the grace period
    page.click("#app-update-payment-method")
    page.wait_for_url(re.compile(r"/portal/bps_"))
    assert page.locator("#card-number").is_visible()


AXE = Path(__file__).resolve().parents[2] / ".tools" / "node_modules" / "axe-core" / "axe.min.js"


def _serious_violations(page) -> list[str]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        "() => axe.run(document, {runOnly: {type: 'tag', values: "
        "['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}})")
    return [f"{v['id']} ({v['impact']}): {v['help']} at "
            + ", ".join(str(n["target"]) for n in v["nodes"][:3])
            for v in result["violations"] if v["impact"] in ("serious", "critical")]


@pytest.mark.parametrize("width", [1280, 390])
def test_signed_in_pages_have_no_serious_accessibility_violations(page, server, signup, width):
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: `make test-deps` installs axe-core")
    page.set_viewport_size({"width": width, "height": 900})
    email = signup(page, keep_welcome=True)
    page.locator("#welcome-dialog").wait_for()
    problems = {"welcome": _serious_violations(page)}
    page.click("#welcome-dismiss")
    _seed(server, email, hours_this_month=42.5, runs=3)
    for path, ready in (("/dashboard", "#usage-warning"),
                        ("/billing", "#daily-chart .recharts-bar-rectangle"),
                        ("/billing?upgrade=1", "#plan-chooser")):
        page.goto(path)
        page.locator(ready).first.wait_for()
        problems[path] = _serious_violations(page)
    assert not {k: v for k, v in problems.items() if v}, problems
