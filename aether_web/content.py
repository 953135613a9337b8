"""The Markdown content of the site (docs/site/*.md, docs/legal/*.md), rendered to HTML at build
time. Prices and limits are never typed into the Markdown: `{{...}}` placeholders are filled from
the plan catalogue, so the docs cannot drift from what is billed.

Placeholders: `{{plans_table}}`, `{{overage.compute}}`, `{{overage.storage}}`, and
`{{<plan>.<field>}}` with plan free|pro|team and field name|price|compute_hours|storage_gb|
max_projects (e.g. `{{pro.compute_hours}}`).
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from markdown_it import MarkdownIt

from aether_web.billing.plans import PLANS, Plan
from aether_web.components.plans import (
    compute_overage_price,
    dollars,
    projects_text,
    storage_overage_price,
)

ROOT = Path(__file__).resolve().parent.parent
SITE_DOCS = ROOT / "docs" / "site"
LEGAL_DOCS = ROOT / "docs" / "legal"

# Two audiences, two menus, each in reading order: people who build on aether, and the
# operators who run it. Documents not listed follow under "Running aether", alphabetically.
USING = "Using aether"
RUNNING = "Running aether"
DOCS_SECTIONS = {
    USING: ["getting-started", "plans-and-limits", "usage-measurement", "billing"],
    RUNNING: ["usage-hooks", "self-hosting", "deployment", "monitoring"],
}
DOCS_ORDER = [slug for slugs in DOCS_SECTIONS.values() for slug in slugs]

_PLACEHOLDER = re.compile(r"\{\{\s*([a-z_]+(?:\.[a-z_]+)?)\s*\}\}")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]*$")


@dataclass(frozen=True)
class Doc:
    """One Markdown document: its URL slug, title (first heading), summary (first paragraph)
    and the rendered HTML of everything after the title."""

    slug: str
    title: str
    summary: str
    html: str
    updated: str = ""  # "March 2, 2026": when the file last changed (see `last_updated`)
    section: str = RUNNING


def plans_table() -> str:
    """The plans as a Markdown table, from the catalogue."""
    plans = list(PLANS.values())
    overage = f"{compute_overage_price()}, {storage_overage_price()}"
    rows = [
        "| | " + " | ".join(p.name for p in plans) + " |",
        "|---|" + "---|" * len(plans),
        "| Price | " + " | ".join(f"{dollars(p.monthly_price_cents)}/month" for p in plans) + " |",
        "| Compute | " + " | ".join(f"{p.compute_hours:,} hours/month" for p in plans) + " |",
        "| Storage | " + " | ".join(f"{p.storage_gb:,} GB" for p in plans) + " |",
        "| Projects | " + " | ".join(projects_text(p) for p in plans) + " |",
        "| Beyond the plan | "
        + " | ".join(overage if p.is_paid else "hard limits, never billed" for p in plans)
        + " |",
    ]
    return "\n".join(rows)


def _plan_field(plan: Plan, field: str) -> str | None:
    if field == "price":
        return dollars(plan.monthly_price_cents)
    if field == "max_projects":
        return "unlimited" if plan.max_projects is None else str(plan.max_projects)
    if field in ("name", "compute_hours", "storage_gb"):
        value = getattr(plan, field)
        return f"{value:,}" if isinstance(value, int) else str(value)
    return None


def fill_placeholders(text: str) -> str:
    """Replace every known `{{...}}`; unknown ones are left visible so a test can catch them."""

    def replace(match: re.Match) -> str:
        key = match.group(1)
        if key == "plans_table":
            return plans_table()
        if key == "overage.compute":
            return compute_overage_price()
        if key == "overage.storage":
            return storage_overage_price()
        plan_key, _, field = key.partition(".")
        if plan_key in PLANS and field:
            value = _plan_field(PLANS[plan_key], field)
            if value is not None:
                return value
        return match.group(0)

    return _PLACEHOLDER.sub(replace, text)


def _heading_id(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _link_target(href: str) -> str:
    """Links between Markdown files become links between docs pages."""
    if "://" in href or href.startswith(("/", "#", "mailto:")):
        return href
    path, _, anchor = href.partition("#")
    if path.endswith(".md"):
        slug = Path(path).stem
        return f"/docs/{slug}" + (f"#{anchor}" if anchor else "")
    return href


def _renderer() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "typographer": True}).enable(
        ["table", "strikethrough", "replacements", "smartquotes"]
    )

    def ids_and_links(state) -> None:
        tokens = state.tokens
        for i, token in enumerate(tokens):
            if token.type == "heading_open" and token.tag in ("h2", "h3"):
                inline = tokens[i + 1]
                token.attrSet("id", _heading_id(inline.content))
            if token.type == "inline":
                for child in token.children or []:
                    if child.type == "link_open":
                        child.attrSet("href", _link_target(str(child.attrGet("href") or "")))

    md.core.ruler.push("aether_ids_and_links", ids_and_links)
    return md


def _split_title(text: str) -> tuple[str, str]:
    """The first `# ` heading and the text after it (no heading: a title from nothing)."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("# "):
            return line[2:].strip(), "\n".join(lines[i + 1 :])
        if line.strip():
            break
    return "", text


def _first_paragraph(body: str) -> str:
    for block in re.split(r"\n\s*\n", body.strip()):
        block = block.strip()
        if block and not block.startswith(("#", "|", "```", "-", "*", ">", "1.")):
            plain = re.sub(r"`|\*\*|\[([^\]]*)\]\([^)]*\)", r"\1", " ".join(block.split()))
            return plain if len(plain) <= 200 else plain[:197].rsplit(" ", 1)[0] + "…"
    return ""


def last_updated(path: Path) -> date:
    """When a content file last changed, the same on every build of one commit: the date of
    the last commit that touched it; without git (an image built without .git), the
    SOURCE_DATE_EPOCH the build sets, else the file's modification time (UTC)."""
    try:
        out = subprocess.run(["git", "log", "-1", "--format=%cs", "--", str(path)], cwd=ROOT,
                             capture_output=True, text=True, timeout=10, check=False)
        if out.returncode == 0 and out.stdout.strip():
            return date.fromisoformat(out.stdout.strip())
    except (OSError, subprocess.SubprocessError, ValueError):
        pass
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "")
    stamp = int(epoch) if epoch.isdigit() else path.stat().st_mtime
    return datetime.fromtimestamp(stamp, tz=UTC).date()


def section_of(slug: str) -> str:
    """The docs menu a document belongs to."""
    return next((name for name, slugs in DOCS_SECTIONS.items() if slug in slugs), RUNNING)


def render_doc(slug: str, text: str, *, updated: date | None = None) -> Doc:
    """One Markdown document, placeholders filled (`{{last_updated}}` with `updated`)."""
    when = f"{updated:%B} {updated.day}, {updated.year}" if updated else ""
    title, body = _split_title(fill_placeholders(text).replace("{{last_updated}}", when))
    title = title or slug.replace("-", " ").capitalize()
    return Doc(slug=slug, title=title, summary=_first_paragraph(body),
               html=_keyboard_scrollable(_renderer().render(body)), updated=when,
               section=section_of(slug))


def _keyboard_scrollable(html: str) -> str:
    """Code blocks and tables may scroll sideways: make them focusable so a keyboard can too.
    (Raw HTML is escaped by the renderer, so these tags only come from Markdown.)"""
    return html.replace("<pre>", '<pre tabindex="0">').replace("<table>", '<table tabindex="0">')


def load_docs(directory: Path = SITE_DOCS) -> list[Doc]:
    """Every `*.md` of `directory` whose name makes a URL slug, in reading order."""
    if not directory.is_dir():
        return []
    files = {p.stem: p for p in directory.glob("*.md") if _SLUG.match(p.stem)}
    order = [s for s in DOCS_ORDER if s in files] + sorted(s for s in files if s not in DOCS_ORDER)
    return [render_doc(slug, files[slug].read_text(encoding="utf-8"),
                       updated=last_updated(files[slug])) for slug in order]


def load_legal(name: str) -> Doc:
    """A legal document (`terms`, `privacy`) from docs/legal."""
    path = LEGAL_DOCS / f"{name}.md"
    return render_doc(name, path.read_text(encoding="utf-8"), updated=last_updated(path))
