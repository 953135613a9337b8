"""The support console's API: admins only, and the answers support needs."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from aether_web.api.admin import routes as admin_routes
from aether_web.models import (
    DriftReport,
    InvoiceRecord,
    JobRun,
    OverageReport,
    Run,
    StripeEvent,
    UsageMonthly,
)

SOME_ID = str(uuid.uuid4())
# Every support route, with a concrete path to call.
SUPPORT_CALLS = [
    ("GET", "/api/admin/users?email=example"),
    ("GET", f"/api/admin/users/{SOME_ID}"),
    ("GET", "/api/admin/webhooks/failed"),
    ("POST", "/api/admin/webhooks/evt_nothing/replay"),
    ("GET", "/api/admin/jobs"),
    ("GET", "/api/admin/drift"),
]


def test_the_list_covers_every_support_route():
    templates = {(m, r.path) for r in admin_routes for m in r.methods if m != "HEAD"}
    called = set()
    for method, url in SUPPORT_CALLS:
        path = url.split("?")[0]
        for m, template in templates:
            parts, tparts = path.split("/"), template.split("/")
            if m == method and len(parts) == len(tparts) and all(
                    t.startswith("{") or t == p for p, t in zip(parts, tparts, strict=True)):
                called.add((m, template))
    assert called == templates


@pytest.mark.parametrize(("method", "url"), SUPPORT_CALLS)
def test_anonymous_gets_401(api, method, url):
    response = api.request(method, url)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"


@pytest.mark.parametrize(("method", "url"), SUPPORT_CALLS)
def test_a_non_admin_gets_403_from_every_support_route(make_user, client_for, method, url):
    user = make_user(plan="team")
    response = client_for(user).request(method, url)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"


@pytest.fixture
def admin_client(make_user, client_for):
    return client_for(make_user(email="support@example.com", is_admin=True))


def test_admin_finds_users_by_part_of_the_email(admin_client, make_user):
    make_user(email="alice@example.com", plan="pro")
    make_user(email="malice@example.org")
    make_user(email="bob@example.com")
    found = admin_client.get("/api/admin/users", params={"email": "ALICE@example.com"})
    assert found.status_code == 200
    emails = [u["email"] for u in found.json()["users"]]
    assert emails == ["alice@example.com"]
    partial = admin_client.get("/api/admin/users", params={"email": "alice"}).json()["users"]
    assert [u["email"] for u in partial] == ["alice@example.com", "malice@example.org"]
    assert partial[0]["plan"] == "pro"
    # LIKE wildcards are text, not patterns.
    assert admin_client.get("/api/admin/users", params={"email": "%_"}).json()["users"] == []
    short = admin_client.get("/api/admin/users", params={"email": "a"})
    assert short.status_code == 400


def test_admin_sees_a_users_plan_stripe_ids_usage_and_billing(admin_client, make_user,
                                                              make_project, session):
    user = make_user(email="carol@example.com", plan="pro", stripe_customer_id="cus_123",
                     stripe_subscription_id="sub_456", subscription_status="active")
    project = make_project(user, name="api-server")
    start = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    session.add(Run(project_id=project.id, user_id=user.id, started_at=start,
                            ended_at=start + timedelta(hours=3), duration_seconds=3 * 3600,
                            end_reason="stopped"))
    session.add(UsageMonthly(user_id=user.id, month=date(2026, 3, 1),
                             compute_seconds=230 * 3600, storage_gb_hours=Decimal(0)))
    session.add(OverageReport(user_id=user.id, month=date(2026, 3, 1), meter="aether_compute",
                              identifier=f"{user.id}:2026-03:compute", stripe_customer_id="cus_123",
                              plan="pro", units=300, cents=300, event_timestamp=1, status="sent"))
    session.add(InvoiceRecord(stripe_invoice_id="in_789", user_id=user.id, status="paid",
                              total_cents=2300, amount_paid_cents=2300))
    session.add(DriftReport(user_id=user.id, month=date(2026, 3, 1), cached_compute_seconds=0,
                            actual_compute_seconds=3600, detected_at=start))
    session.commit()

    body = admin_client.get(f"/api/admin/users/{user.id}").json()
    assert body["user"]["email"] == "carol@example.com"
    assert body["user"]["plan"] == "pro"
    assert body["user"]["stripe_customer_id"] == "cus_123"
    assert body["user"]["stripe_subscription_id"] == "sub_456"
    assert body["user"]["projects"] == "1"
    [run] = body["usage_runs"]
    assert run["project"] == "api-server" and run["hours"] == "3.00"
    # Months come from the period bill: hours from the runs (usage_monthly is only their
    # cache), and a reported month shows what was sent to Stripe, never a re-price.
    month = next(m for m in body["monthly_totals"] if m["month"] == "2026-03")
    assert month["compute_hours"] == "3.00"
    assert month["overage"].startswith("$3.00 (pending")
    assert "pro" in month["plans"] and "200 h" in month["included"]
    assert body["overage_reports"][0]["amount"] == "$3.00"
    assert body["invoices"][0]["id"] == "in_789" and body["invoices"][0]["total"] == "$23.00"
    assert body["drift"][0]["difference_hours"] == "1.00"


def test_unknown_and_malformed_user_ids(admin_client):
    assert admin_client.get(f"/api/admin/users/{uuid.uuid4()}").status_code == 404
    assert admin_client.get("/api/admin/users/not-a-uuid").status_code == 400


def _event(session, event_id: str, status: str, type_: str = "customer.created") -> None:
    session.add(StripeEvent(id=event_id, type=type_, created=1, status=status,
                            payload=json.dumps({"id": event_id, "type": type_, "created": 1,
                                                "data": {"object": {}}}),
                            last_error="Traceback...\nRuntimeError: database went away",
                            attempts=1))


def test_admin_sees_failed_webhooks_and_replays_one(admin_client, session, engine):
    _event(session, "evt_failed", "failed")
    _event(session, "evt_done", "processed")
    session.commit()

    events = admin_client.get("/api/admin/webhooks/failed").json()["events"]
    assert [e["id"] for e in events] == ["evt_failed"]
    assert events[0]["error"] == "RuntimeError: database went away"

    replay = admin_client.post("/api/admin/webhooks/evt_failed/replay")
    assert replay.status_code == 200, replay.text
    assert replay.json()["ok"] is True
    from sqlmodel import Session

    with Session(engine) as s:
        assert s.get(StripeEvent, "evt_failed").status != "failed"
    assert admin_client.get("/api/admin/webhooks/failed").json()["events"] == []
    assert admin_client.post("/api/admin/webhooks/evt_missing/replay").status_code == 404


def test_admin_sees_each_jobs_last_run_and_the_last_drift_report(admin_client, session,
                                                                make_user):
    now = datetime.now(UTC).replace(microsecond=0)
    session.add(JobRun(job_name="send_email", tick=now, started_at=now, finished_at=now,
                       status="failed", detail="SMTPServerDisconnected"))
    user = make_user()
    older, newer = now - timedelta(days=2), now - timedelta(hours=1)
    session.add(DriftReport(user_id=user.id, month=date(2026, 3, 1), cached_compute_seconds=0,
                            actual_compute_seconds=60, detected_at=older))
    session.add(DriftReport(user_id=user.id, month=date(2026, 4, 1), cached_compute_seconds=7200,
                            actual_compute_seconds=3600, detected_at=newer))
    session.commit()

    jobs = {j["name"]: j for j in admin_client.get("/api/admin/jobs").json()["jobs"]}
    assert jobs["send_email"]["last_status"] == "failed"
    assert jobs["send_email"]["last_detail"] == "SMTPServerDisconnected"
    assert jobs["purge_expired_sessions"]["last_status"] == "never ran"

    reports = admin_client.get("/api/admin/drift").json()["reports"]
    assert [r["month"] for r in reports] == ["2026-04"]
    assert reports[0]["difference_hours"] == "-1.00"
