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
    print(report_overage(month=month, allow_open_month=True))
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
    report = group.add_parser("report-overage",
                              help="send a month's overage to Stripe (once per user and meter)")
    report.add_argument("--month", required=True, help="YYYY-MM (the current month allowed)")
    report.set_defaults(func=_report_overage)
    rec = group.add_parser("reconcile", help="compare a month's overage with Stripe's meters")
    rec.add_argument("--month", required=True, help="YYYY-MM")
    rec.set_defaults(func=_reconcile)
