"""`python -m aether_web webhooks list [--failed] | replay EVENT_ID`."""

from __future__ import annotations

import argparse


def _list(args: argparse.Namespace) -> int:
    from aether_web.db import transaction
    from aether_web.services.stripe_events import list_events

    with transaction() as session:
        rows = list_events(session, failed_only=args.failed, limit=args.limit)
        for row in rows:
            received = row.received_at.strftime("%Y-%m-%d %H:%M:%S") if row.received_at else ""
            print(f"{row.id:32} {row.type:36} {row.status:9} attempts={row.attempts} "
                  f"{received} {row.outcome}")
            if args.failed and row.last_error:
                print("    " + row.last_error.strip().splitlines()[-1])
    if not rows:
        print("no failed events" if args.failed else "no events")
    return 0


def _replay(args: argparse.Namespace) -> int:
    from aether_web.integrations.stripe import get_gateway
    from aether_web.services.stripe_events import replay_event

    delivery = replay_event(args.event_id, gateway=get_gateway())
    print(f"{args.event_id}: {delivery.event_status}")
    return 0 if delivery.http_status == 200 else 1


def register(sub: argparse._SubParsersAction) -> None:
    group = sub.add_parser("webhooks", help="received Stripe events").add_subparsers(
        dest="webhooks_cmd", required=True)
    listing = group.add_parser("list", help="recent events, newest first")
    listing.add_argument("--failed", action="store_true", help="only events that failed")
    listing.add_argument("--limit", type=int, default=50)
    listing.set_defaults(func=_list)
    replay = group.add_parser("replay", help="process a stored event again")
    replay.add_argument("event_id")
    replay.set_defaults(func=_replay)
