"""The public site's content: prices from the catalogue, the worked example, docs, head tags."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from aether_web.billing.plans import (
    COMPUTE_OVERAGE_CENTS_PER_HOUR,
    FREE,
    PLANS,
    PRO,
    STORAGE_OVERAGE_CENTS_PER_GB_MONTH,
    TEAM,
)
from aether_web.components.plans import dollars, plan_features, plan_summary
from aether_web.content import (
    DOCS_ORDER,
    SITE_DOCS,
    fill_placeholders,
    load_docs,
    load_legal,
    plans_table,
    render_doc,
)


@pytest.mark.parametrize(("cents", "text"), [
    (0, "$0"), (2000, "$20"), (10, "$0.10"), (Decimal(50), "$0.50"), (150050, "$1,500.50"),
    (-250, "-$2.50"),
])
def test_dollars(cents, text):
    assert dollars(cents) == text


def test_plan_cards_show_the_catalogue():
    for plan in PLANS.values():
        info = plan_summary(plan)
        assert info["name"] == plan.name
        assert info["price"] == dollars(plan.monthly_price_cents)
        assert f"{plan.compute_hours:,} compute hours a month" in info["features"]
        assert f"{plan.storage_gb:,} GB storage" in info["features"]
    assert "Unlimited projects" in plan_features(TEAM)
    assert f"{PRO.max_projects} projects" in plan_features(PRO)


def test_only_paid_plans_mention_overage_prices():
    rate = dollars(COMPUTE_OVERAGE_CENTS_PER_HOUR)
    assert any(rate in line for line in plan_features(PRO))
    assert not any(rate in line for line in plan_features(FREE))
    assert any("never charged" in line for line in plan_features(FREE))


def test_worked_example_is_computed_by_the_billing_rules():
    from aether_web.billing.money import format_cents
    from aether_web.pages.pricing import worked_example

    ex = worked_example(PRO, extra_hours=30, extra_gb=2)
    assert ex is not None
    compute = 30 * COMPUTE_OVERAGE_CENTS_PER_HOUR
    storage = 2 * STORAGE_OVERAGE_CENTS_PER_GB_MONTH
    assert ex["compute"] == format_cents(int(compute))
    assert ex["storage"] == format_cents(int(storage))
    assert ex["overage"] == format_cents(int(compute + storage))
    assert ex["total"] == format_cents(PRO.monthly_price_cents + int(compute + storage))
    assert ex["hours"] == PRO.compute_hours + 30
    assert ex["explanation"]


def test_worked_example_on_free_costs_nothing_beyond_the_price():
    from aether_web.pages.pricing import worked_example

    ex = worked_example(FREE, extra_hours=10, extra_gb=1)
    assert ex["overage"] == "$0.00"
    assert ex["total"] == "$0.00"


def test_pricing_faq_answers_the_launch_questions():
    from aether_web.pages.pricing import FAQ

    text = " ".join(q + " " + a for q, a in FAQ).lower()
    assert "limit" in text
    assert "calendar month" in text and "invoice" in text
    assert "customer portal" in text and "end of the period" in text
    assert str(FREE.compute_hours) in text


def test_placeholders_come_from_the_catalogue():
    text = fill_placeholders("{{pro.compute_hours}} h, {{team.max_projects}}, {{free.price}}, "
                             "{{overage.compute}}, {{ pro.storage_gb }}")
    assert text == (f"{PRO.compute_hours} h, unlimited, $0, "
                    f"{dollars(COMPUTE_OVERAGE_CENTS_PER_HOUR)} per compute hour, "
                    f"{PRO.storage_gb}")
    assert fill_placeholders("{{nope.thing}}") == "{{nope.thing}}"


def test_plans_table_has_every_plan_and_price():
    table = plans_table()
    for plan in PLANS.values():
        assert plan.name in table
        assert f"{dollars(plan.monthly_price_cents)}/month" in table
        assert f"{plan.compute_hours:,} hours/month" in table
    assert len({len(row.split("|")) for row in table.splitlines()}) == 1


def test_render_doc_title_summary_links_and_anchors():
    doc = render_doc("x", "# The title\n\nFirst **para** with [a link](billing.md#money).\n\n"
                          "## A section\n\nSee [site](https://example.com) and [b](other.md).\n")
    assert doc.title == "The title"
    assert doc.summary == "First para with a link."
    assert 'href="/docs/billing#money"' in doc.html
    assert 'href="/docs/other"' in doc.html
    assert 'href="https://example.com"' in doc.html
    assert '<h2 id="a-section">' in doc.html
    assert "The title" not in doc.html


def test_code_blocks_and_tables_can_be_scrolled_by_keyboard():
    doc = render_doc("x", "# T\n\n```\nlong line\n```\n\n| a |\n|---|\n| 1 |\n")
    assert '<pre tabindex="0">' in doc.html and '<table tabindex="0">' in doc.html


def test_markdown_html_is_escaped():
    doc = render_doc("x", "# T\n\n<script>alert(1)</script>\n")
    assert "<script>" not in doc.html


def test_docs_are_listed_in_reading_order_with_titles(tmp_path):
    (tmp_path / "zeta.md").write_text("# Zeta\n\nz\n")
    (tmp_path / "billing.md").write_text("# Billing and invoices\n\nb\n")
    (tmp_path / "getting-started.md").write_text("# Getting started\n\ng\n")
    (tmp_path / "alpha.md").write_text("no heading here\n")
    (tmp_path / "Bad Name.md").write_text("# Ignored\n")
    docs = load_docs(tmp_path)
    assert [d.slug for d in docs] == ["getting-started", "billing", "alpha", "zeta"]
    assert [d.title for d in docs] == ["Getting started", "Billing and invoices", "Alpha", "Zeta"]


def test_the_repository_docs_render_without_leftover_placeholders():
    docs = load_docs()
    slugs = [d.slug for d in docs]
    for required in ("getting-started", "plans-and-limits", "self-hosting", "deployment",
                     "monitoring"):
        assert required in slugs
    assert slugs[0] == "getting-started"
    known = [s for s in slugs if s in DOCS_ORDER]
    assert known == sorted(known, key=DOCS_ORDER.index)
    for doc in docs:
        assert doc.title and doc.summary, doc.slug
        assert "{{" not in doc.html, f"unfilled placeholder in {doc.slug}"
    for name in ("terms", "privacy"):
        assert load_legal(name).title


def test_self_hosting_documents_every_setting():
    from aether_web.settings import Settings

    text = (SITE_DOCS / "self-hosting.md").read_text()
    for name, field in Settings.model_fields.items():
        aliases = getattr(field.validation_alias, "choices", None) or [name]
        assert any(f"`{alias}`" in text for alias in aliases), f"{name} is not documented"
    for reflex_var in ("REFLEX_DB_URL", "REFLEX_REDIS_URL", "REFLEX_API_URL"):
        assert reflex_var in text


def test_deployment_guide_covers_production():
    text = (SITE_DOCS / "deployment.md").read_text()
    for needle in ("PostgreSQL", "REFLEX_REDIS_URL", "job_runs", "REFLEX_API_URL",
                   "/api/billing/webhook", "STRIPE_WEBHOOK_SECRET", "Backups", "pg_dump"):
        assert needle in text, needle


def test_monitoring_doc_names_every_database_metric():
    import inspect

    from aether_web.api import metrics as metrics_api

    text = (SITE_DOCS / "monitoring.md").read_text()
    emitted = set(re.findall(r'"(aether_[a-z_]+)"', inspect.getsource(metrics_api)))
    emitted |= {metric for metric, _ in metrics_api.BACKLOG_TABLES.values()}
    assert emitted
    for name in emitted:
        assert name in text, f"{name} is not in monitoring.md"


def test_privacy_page_says_analytics_are_cookieless():
    text = (SITE_DOCS.parent / "legal" / "privacy.md").read_text().lower()
    assert "cookieless" in text and "one cookie" in text


def test_no_public_markdown_retypes_a_price():
    # Prices live in the catalogue; the Markdown uses {{...}} placeholders instead.
    for path in [*SITE_DOCS.glob("*.md"), *(SITE_DOCS.parent / "legal").glob("*.md")]:
        if path.stem in ("getting-started", "plans-and-limits", "self-hosting", "deployment",
                         "monitoring") or path.parent.name == "legal":
            assert not re.search(r"\$\d", path.read_text()), f"a price is typed in {path.name}"
