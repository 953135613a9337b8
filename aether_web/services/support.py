"""The support console's questions: who is this user, what did they use, what were they billed,
which webhooks failed, how are the jobs doing. Every answer is plain JSON-ready data (strings,
numbers, lists), shared by /admin and /api/admin/.

Callers check that the acting user is an admin (`require_admin`) before anything else.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from aether_web.billing.money import format_cents, hours_value
from aether_web.billing.plans import get_plan
from aether_web.errors import Forbidden, InvalidInput, NotFound
from aether_web.models import (
    DriftReport,
    InvoiceRecord,
    OverageReport,
    Profile,
    Project,
    Run,
    StripeEvent,
)
from aether_web.services import text_input
from aether_web.services.invoicing.support_view import adjustment_rows, invoice_check_rows

MAX_ROWS = 50
MAX_EVENT_ID = 255  # stripe_events.id


def require_admin(user: Profile) -> Profile:
    """The user, if they are an admin; Forbidden otherwise."""
    if not user.is_admin:
        raise Forbidden("Only support staff can use the support console.", code="forbidden")
    return user


def _iso(value: datetime | date | None) -> str:
    return value.isoformat() if value is not None else ""


def _hours(seconds: int | None) -> str:
    # Floored like every display (200 h 29 m 59 s is 200.49, never 200.50).
    return f"{hours_value(seconds or 0):.2f}"


def _money(cents: int | None) -> str:
    return format_cents(cents or 0)


def _user_id(value: str | uuid.UUID) -> uuid.UUID:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except ValueError as exc:
        raise InvalidInput("That is not a user id.", code="invalid_user_id") from exc


def profile_row(profile: Profile) -> dict[str, str]:
    """One user as a search result."""
    return {
        "id": str(profile.id),
        "email": profile.email,
        "name": profile.name or "",
        "plan": profile.plan,
        "created_at": _iso(profile.created_at),
        "is_admin": "yes" if profile.is_admin else "no",
    }


def find_users(session: Session, *, query: str, limit: int = 20) -> list[dict[str, str]]:
    """Users whose email contains `query` (case-insensitive), exact matches first."""
    problem = text_input.search_problem(query)
    if problem:
        raise InvalidInput(problem, code="invalid_query")
    text = query.strip().lower()
    if len(text) < 2:
        raise InvalidInput("Type at least two characters of the email.", code="query_too_short")
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    rows = session.exec(
        select(Profile)
        .where(sa.func.lower(Profile.email).like(f"%{escaped}%", escape="\\"))
        .order_by(sa.case((sa.func.lower(Profile.email) == text, 0), else_=1), Profile.email)
        .limit(limit)
    ).all()
    return [profile_row(p) for p in rows]


def _usage_runs(session: Session, user_id: uuid.UUID) -> list[dict[str, str]]:
    rows = session.exec(
        select(Run, Project.name)
        .join(Project, Project.id == Run.project_id, isouter=True)
        .where(Run.user_id == user_id)
        .order_by(Run.started_at.desc())
        .limit(MAX_ROWS)
    ).all()
    return [
        {
            "id": str(run.id),
            "project": name or str(run.project_id),
            "machine_id": run.machine_id,
            "started_at": _iso(run.started_at),
            "ended_at": _iso(run.ended_at) or "running",
            "hours": _hours(run.duration_seconds) if run.duration_seconds is not None else "",
            "end_reason": run.end_reason or "",
        }
        for run, name in rows
    ]


def _monthly_totals(session: Session, user_id: uuid.UUID, plan_key: str) -> list[dict[str, str]]:
    """The user's months as the billing page shows them (`usage_summary`, from the period
    bill): plan intervals, included, counted, overage and what was billed."""
    from aether_web.services.usage_summary import usage_summary

    out = []
    for month in usage_summary(session, user_id=user_id)["history"]:
        b = month["breakdown"]
        out.append({
            "month": month["month"],
            "plans": ", ".join(f"{iv['plan']} {iv['start'][5:16]}..{iv['end'][5:16]}"
                               for iv in b["intervals"]),
            "compute_hours": f"{month['compute_hours']:.2f}",
            "included": f"{b['included']['compute_display']}, "
                        f"{b['included']['storage_gb_hours']} GB-h",
            "counted": f"{b['counted']['compute_display']}, "
                       f"{b['counted']['storage_gb_hours']} GB-h",
            "storage_gb_hours": b["counted"]["storage_gb_hours"],
            "overage": f"{month['overage_display']} ({month['status']}: "
                       f"{month['status_reason']})",
            "overage_at_current_plan": "",
            "explanation": " | ".join(b["explanation"]),
        })
    return out


def _overage_reports(session: Session, user_id: uuid.UUID) -> list[dict[str, str]]:
    rows = session.exec(
        select(OverageReport).where(OverageReport.user_id == user_id)
        .order_by(OverageReport.month.desc(), OverageReport.meter).limit(MAX_ROWS)
    ).all()
    return [
        {
            "month": r.month.strftime("%Y-%m"), "meter": r.meter, "plan": r.plan,
            "units": str(r.units), "amount": _money(r.cents), "status": r.status,
            "attempts": str(r.attempts), "sent_at": _iso(r.sent_at),
            "last_error": (r.last_error or "")[-300:],
        }
        for r in rows
    ]


def _invoices(session: Session, user_id: uuid.UUID) -> list[dict[str, str]]:
    rows = session.exec(
        select(InvoiceRecord).where(InvoiceRecord.user_id == user_id)
        .order_by(InvoiceRecord.invoice_created.desc()).limit(MAX_ROWS)
    ).all()
    return [
        {
            "id": r.stripe_invoice_id, "number": r.number or "", "status": r.status,
            "total": _money(r.total_cents), "paid": _money(r.amount_paid_cents),
            "due": _money(r.amount_due_cents), "period_start": _iso(r.period_start),
            "period_end": _iso(r.period_end), "created": _iso(r.invoice_created),
            "paid_at": _iso(r.paid_at), "url": r.hosted_invoice_url or "",
        }
        for r in rows
    ]


def drift_rows(session: Session, *, user_id: uuid.UUID | None = None,
               limit: int = MAX_ROWS) -> list[dict[str, str]]:
    """Drift found by the daily rebuild, newest first (of one user when given)."""
    query = select(DriftReport).order_by(DriftReport.detected_at.desc(), DriftReport.id.desc())
    if user_id is not None:
        query = query.where(DriftReport.user_id == user_id)
    return [
        {
            "user_id": str(r.user_id), "month": r.month.strftime("%Y-%m"),
            "cached_hours": _hours(r.cached_compute_seconds),
            "actual_hours": _hours(r.actual_compute_seconds),
            "difference_hours": _hours(r.actual_compute_seconds - r.cached_compute_seconds),
            "detected_at": _iso(r.detected_at),
        }
        for r in session.exec(query.limit(limit)).all()
    ]


def last_drift_report(session: Session) -> list[dict[str, str]]:
    """The latest drift report: every difference found by the newest rebuild that found any."""
    rows = drift_rows(session, limit=MAX_ROWS)
    if not rows:
        return []
    newest = rows[0]["detected_at"][:10]
    return [r for r in rows if r["detected_at"][:10] == newest]


def user_overview(session: Session, *, user_id: str | uuid.UUID) -> dict[str, Any]:
    """Everything support needs to answer "why was I charged this?" for one user."""
    uid = _user_id(user_id)
    profile = session.get(Profile, uid)
    if profile is None:
        raise NotFound("No user with that id.", code="user_not_found")
    projects = session.exec(select(sa.func.count()).select_from(Project)
                            .where(Project.user_id == uid)).one()
    plan = get_plan(profile.plan)
    return {
        "user": {
            **profile_row(profile),
            "plan_name": plan.name,
            "stripe_customer_id": profile.stripe_customer_id or "",
            "stripe_subscription_id": profile.stripe_subscription_id or "",
            "subscription_status": profile.subscription_status or "",
            "past_due_since": _iso(profile.past_due_since),
            "grace_ends_at": _iso(profile.grace_ends_at),
            "projects": str(projects),
        },
        "usage_runs": _usage_runs(session, uid),
        "monthly_totals": _monthly_totals(session, uid, profile.plan),
        "overage_reports": _overage_reports(session, uid),
        "invoices": _invoices(session, uid),
        "invoice_checks": invoice_check_rows(session, user_id=uid),
        "overage_items": adjustment_rows(session, user_id=uid),
        "drift": drift_rows(session, user_id=uid),
    }


def failed_webhook_events(session: Session, *, limit: int = MAX_ROWS) -> list[dict[str, str]]:
    """Stored Stripe events whose processing failed, newest first, with the last error."""
    rows = session.exec(
        select(StripeEvent).where(StripeEvent.status == "failed")
        .order_by(StripeEvent.received_at.desc()).limit(limit)
    ).all()
    return [
        {
            "id": r.id, "type": r.type, "attempts": str(r.attempts),
            "received_at": _iso(r.received_at),
            "error": ((r.last_error or "").strip().splitlines() or [""])[-1][:300],
        }
        for r in rows
    ]


def replay_webhook_event(event_id: str) -> dict[str, Any]:
    """Process a stored Stripe event again through the Stripe integration's replay. An id no
    stored event can have (too long, NUL or hidden characters) is InvalidInput."""
    from aether_web.integrations.stripe import get_gateway
    from aether_web.services.stripe_events import replay_event

    if len(event_id) > MAX_EVENT_ID or text_input.hidden_character(event_id):
        raise InvalidInput("That is not a Stripe event id.", code="invalid_event_id")
    delivery = replay_event(event_id, gateway=get_gateway())
    return {"event_id": event_id, "status": delivery.event_status,
            "ok": delivery.http_status == 200}
