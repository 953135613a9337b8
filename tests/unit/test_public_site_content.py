"""The public site's generated parts: the plan comparison, the docs menus, "last updated"."""

from __future__ import annotations

import os
from datetime import date

from aether_web.billing.plans import PLANS
from aether_web.components.plans import comparison_rows, dollars
from aether_web.content import (
    DOCS_SECTIONS,
    LEGAL_DOCS,
    RUNNING,
    USING,
    last_updated,
    load_docs,
    load_legal,
)


def test_the_comparison_has_a_column_per_plan_from_the_catalogue():
    rows = dict(comparison_rows())
    assert all(len(values) == len(PLANS) for values in rows.values())
    assert rows["Price"] == [f"{dollars(p.monthly_price_cents)} a month" for p in PLANS.values()]
    assert rows["Compute included"] == [f"{p.compute_hours:,} hours a month"
                                        for p in PLANS.values()]
    free = list(PLANS).index("free")
    assert rows["Can you be charged more?"][free] == "Never"


def test_docs_are_in_two_menus_for_two_audiences():
    docs = load_docs()
    assert {d.section for d in docs} == {USING, RUNNING}
    assert [d.slug for d in docs if d.section == USING] == DOCS_SECTIONS[USING]
    assert "getting-started" in DOCS_SECTIONS[USING] and "deployment" in DOCS_SECTIONS[RUNNING]


def test_last_updated_is_the_files_date_and_the_same_on_every_build(tmp_path, monkeypatch):
    terms = load_legal("terms")
    assert terms.updated and f"Last updated: {terms.updated}." in terms.html
    assert "public launch" not in terms.html and "{{" not in terms.html
    assert last_updated(LEGAL_DOCS / "terms.md") == last_updated(LEGAL_DOCS / "terms.md")
    # Outside git, a build's SOURCE_DATE_EPOCH dates the file, else its mtime.
    loose = tmp_path / "x.md"
    loose.write_text("# X\n")
    os.utime(loose, (86400 * 365, 86400 * 365))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("aether_web.content.ROOT", tmp_path)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert last_updated(loose) == date(2023, 11, 14)
    monkeypatch.delenv("SOURCE_DATE_EPOCH")
    assert last_updated(loose) == date(1971, 1, 1)
