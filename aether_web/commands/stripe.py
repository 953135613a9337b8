"""`python -m aether_web stripe setup|report-overage|reconcile`."""

from __future__ import annotations

import argparse


def _setup(_args: argparse.Namespace) -> int:
    from aether_web.integrations.stripe import ensure_catalog, get_gateway
    from aether_web.settings import get_settings

    settings = get_settings()
    where = settings.stripe_api_base or "Stripe"
    for item in ensure_catalog(get_gateway()):
        print(f"{item.kind:8} {item.key:28} {item.stripe_id:36} {item.action}")
    print(f"catalogue ready on {where}")
    return 0


def _report_overage(args: argparse.Namespace) -> int:
    from aether_web.services.overage import parse_month, report_overage

    month = parse_month(args.month)
    # A month still running is refused: its overage is not final yet, and a report for it
    # would freeze the month (its identifier is taken) so later usage would go unbilled.
    print(report_overage(month=month))
    return 0


def _reconcile(args: argparse.Namespace) -> int:
    from aether_web.db import transaction
    from aether_web.integrations.stripe import get_gateway
    from aether_web.services.overage import parse_month, reconcile_month

    month = parse_month(args.month)
    with transaction() as session:
        rows = reconcile_month(session, month=month, gateway=get_gateway())
        for row in rows:
            print(f"{row.user_id} {row.meter:24} ours={row.our_units} "
                  f"stripe={row.stripe_units} {row.status}")
        bad = sum(1 for row in rows if row.status == "mismatch")
    print(f"{len(rows)} checked, {bad} differ")
    return 1 if bad else 0


def register(sub: argparse._SubParsersAction) -> None:
    group = sub.add_parser("stripe", help="Stripe catalogue and overage").add_subparsers(
        dest="stripe_cmd", required=True)
    group.add_parser("setup", help="create products, prices and meters (idempotent)"
                     ).set_defaults(func=_setup)
    report = group.add_parser(
        "report-overage", help="send a month that is over to Stripe's meters (once per user "
        "and meter)",
        description="Plan (once) and send the overage of a month that is over: one meter "
        "event per paying user and meter, identifier {user_id}:{YYYY-MM}:{compute|storage}, "
        "stamped at the month's last second. A rerun sends nothing new. The month still "
        "running is refused (its usage is not final). Stripe counts the events only until it "
        "finalizes the month's invoice; what arrives later is billed once as a labelled item "
        "by the invoice reconciliation.")
    report.add_argument("--month", required=True,
                        help="YYYY-MM, a month that is over (not the current one)")
    report.set_defaults(func=_report_overage)
    rec = group.add_parser("reconcile", help="compare a month's overage with Stripe's meters")
    rec.add_argument("--month", required=True, help="YYYY-MM")
    rec.set_defaults(func=_reconcile)
