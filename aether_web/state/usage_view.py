"""The usage summary (`services.usage_summary`) turned into what the browser shows: text,
bar widths and levels. Pure functions, so the page, the header and the tests agree."""

from __future__ import annotations

from datetime import date

from aether_web.billing.limits import usage_level, usage_percent
from aether_web.billing.money import format_cents
from aether_web.billing.periods import month_end
from aether_web.billing.plans import get_plan

LEVEL_COLORS = {"ok": "grass", "warning": "amber", "limit": "red"}
RESOURCES = ("compute", "storage", "projects")
NAMES = {"compute": "compute hours", "storage": "storage", "projects": "projects"}


def number(value: float | int) -> str:
    """At most two decimals, no trailing zeros: 42.5, 50, 0.25, 1,234."""
    text = f"{float(value):,.2f}".rstrip("0").rstrip(".")
    return text or "0"


def duration_text(seconds: int) -> str:
    """A duration for people, never a fraction of an hour: "0 min", "< 1 min", "45 min",
    "2 h", "2 h 5 min". Seconds are floored, so it never shows more than was used."""
    seconds = max(0, int(seconds))
    if seconds == 0:
        return "0 min"
    if seconds < 60:
        return "< 1 min"
    hours, minutes = divmod(seconds // 60, 60)
    if hours == 0:
        return f"{minutes} min"
    return f"{hours:,} h" if minutes == 0 else f"{hours:,} h {minutes} min"


def compute_used(seconds: int, hours: float) -> str:
    """This month's compute beside its limit in hours: "0", "12 min", "42.5" (hours)."""
    if seconds <= 0:
        return "0"
    if seconds < 3600:
        return duration_text(seconds)
    return number(hours)


def hours_text(hours: float) -> str:
    """A month's compute from hours floored to 0.01 h: "3 min" under an hour, else "42.5 h"."""
    if 0 < hours < 1:
        minutes = int(round(hours * 60, 6))
        return f"{minutes} min" if minutes else "< 1 min"
    return f"{number(hours)} h"


def month_label(key: str) -> str:
    """"2026-03" -> "Mar 2026"."""
    year, month = (int(part) for part in key.split("-"))
    return date(year, month, 1).strftime("%b %Y")


def _bar(label: str, used: str, limit: str, unit: str, percent: int, level: str) -> dict:
    return {
        "label": label,
        "used": used,
        "limit": limit,
        "text": f"{used} / {limit}{unit}",
        "percent": str(percent),
        "percent_text": f"{percent}%",
        # The bar itself stops at 100; the text says how far past the plan it went.
        "width": str(min(percent, 100)),
        "level": level,
        "color": LEVEL_COLORS[level],
    }


def usage_bars(summary: dict) -> dict[str, dict]:
    """Compute, storage and projects as bars: text like "42.5 / 50 h", percent, level."""
    usage, limits = summary["usage"], summary["limits"]
    plan = get_plan(summary["plan"])
    bars = {
        "compute": _bar("Compute", compute_used(usage["compute_seconds"],
                                                usage["compute_hours"]),
                        number(usage.get("compute_included_hours", limits["compute_hours"])),
                        " h", int(usage["compute_percent"]),
                        usage["compute_level"]),
        "storage": _bar("Storage", number(usage["storage_gb"]), number(limits["storage_gb"]),
                        " GB", int(usage["storage_percent"]), usage["storage_level"]),
    }
    count = int(usage["project_count"])
    if plan.max_projects is None:
        bars["projects"] = _bar("Projects", str(count), "unlimited", "", 0, "ok")
        bars["projects"]["percent_text"] = ""
    else:
        bars["projects"] = _bar("Projects", str(count), str(plan.max_projects), "",
                                usage_percent(count, plan.max_projects),
                                usage_level(count, plan.max_projects))
    return bars


def usage_alert(summary: dict, bars: dict[str, dict]) -> dict[str, str]:
    """The banner for the most pressing limit, or level "ok" and no message.

    Free plans stop at a limit; paid plans keep going and pay overage, so theirs is a notice.
    """
    plan = get_plan(summary["plan"])
    worst = max(RESOURCES, key=lambda r: (("ok", "warning", "limit").index(bars[r]["level"]),
                                          int(bars[r]["percent"])))
    bar = bars[worst]
    level = bar["level"]
    if level == "ok":
        return {"level": "ok", "message": "", "resource": ""}
    name = NAMES[worst]
    resets = _reset_day(summary)
    if level == "warning":
        message = (f"You've used {bar['percent_text']} of your {plan.name} plan's {name} this "
                   "month.")
        message += (" Upgrade to keep building without interruption." if not plan.is_paid
                    else " Past the plan, usage is billed as overage.")
    elif worst == "projects":
        message = (f"You have {bar['used']} of {bar['limit']} projects, the most your "
                   f"{plan.name} plan includes. Upgrade to create more.")
    elif not plan.is_paid and worst == "compute":
        message = (f"You've used all {bar['limit']} compute hours of the {plan.name} plan. VMs "
                   f"can't start again until {resets}. Upgrade to keep building now.")
    elif not plan.is_paid:
        message = (f"Your projects use all {bar['limit']} GB of the {plan.name} plan's "
                   "storage, so they can't save more files. Upgrade for more room.")
    else:
        message = (f"You're past your {plan.name} plan's {name} ({bar['text']}). You can keep "
                   "going; the extra is billed as overage on your next invoice.")
    return {"level": level, "message": message, "resource": worst}


def _reset_day(summary: dict) -> str:
    start = date.fromisoformat(summary["period"]["start"][:10])
    return month_end(start).strftime("%B %-d")


def history_rows(summary: dict) -> list[dict[str, str]]:
    """Past and current months, newest first: hours, storage, overage cost and why."""
    rows = []
    for month in summary["history"]:
        explanation = month.get("overage_explanation") or ""
        rows.append({
            "month": month_label(month["month"]),
            "key": month["month"],
            "hours": hours_text(month["compute_hours"]),
            "storage": f"{number(month['storage_gb'])} GB-month",
            "cost": month.get("overage_display") or f"${month['overage_cost']:,.2f}",
            "explanation": f"({explanation})" if explanation else "",
            "status": _status_text(month),
            "details": "\n".join([*invoice_details(month.get("invoice")),
                                  *bill_details(month.get("breakdown"))]),
        })
    return rows


STATUS_WORDS = {"open": "So far", "billed": "Billed", "pending": "Pending",
                "not_billed": "Not billed", "none": "Nothing to bill"}


def _status_text(month: dict) -> str:
    status = month.get("status")
    if not status:
        return ""
    return f"{STATUS_WORDS.get(status, status)}: {month.get('status_reason', '')}"


def invoice_details(invoice: dict | None) -> list[str]:
    """A reconciled month's invoice lines, and a difference from our computation."""
    if not invoice:
        return []
    lines = [f"On the invoice ({', '.join(invoice['invoices'])}): "
             f"{format_cents(invoice['invoice_cents'])} of overage"]
    lines += [f"Labelled line \"{i['description']}\": {format_cents(i['cents'])}"
              f"{'' if i['billed'] else ' (on the next invoice)'}" for i in invoice["items"]]
    if invoice["differs"]:
        lines.append(f"Differs from our computation ({format_cents(invoice['computed_cents'])}):"
                     " support is reviewing it")
    return lines


def bill_details(breakdown: dict | None) -> list[str]:
    """A month's bill as lines a user can check by hand: the plan intervals and what they
    include, the usage per project and the overage lines (they add up to the total)."""
    if not breakdown:
        return []
    lines = list(breakdown.get("explanation") or [])
    for project in breakdown.get("projects") or []:
        name = project["name"] or project["project_id"][:8]
        lines.append(f"Project {name}: {project['compute_display']} counted, "
                     f"{project['storage_gb_hours']} GB-hours, overage share "
                     f"{project['total_display']}")
    return lines


def has_any_usage(summary: dict) -> bool:
    """Whether there is anything to chart yet."""
    return summary["usage"]["compute_seconds"] > 0 or any(
        m["compute_hours"] > 0 or m["storage_gb"] > 0 for m in summary["history"])
