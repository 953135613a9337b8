"""Long-form text rendered from Markdown (docs, legal pages), styled to match the Radix theme."""

from __future__ import annotations

import reflex as rx

PROSE_STYLE = {
    "lineHeight": "1.65",
    "fontSize": "var(--font-size-3)",
    "color": "var(--gray-12)",
    "maxWidth": "46rem",
    "& h2": {"fontSize": "var(--font-size-6)", "fontWeight": 700, "margin": "2rem 0 0.75rem",
             "scrollMarginTop": "1rem"},
    "& h3": {"fontSize": "var(--font-size-4)", "fontWeight": 600, "margin": "1.5rem 0 0.5rem",
             "scrollMarginTop": "1rem"},
    "& p, & ul, & ol, & pre, & table, & blockquote": {"margin": "0 0 1rem"},
    "& ul, & ol": {"paddingLeft": "1.5rem"},
    "& li": {"margin": "0.25rem 0"},
    "& a": {"color": "var(--accent-11)", "textDecoration": "underline",
            "textUnderlineOffset": "2px"},
    "& code": {"fontFamily": "var(--code-font-family)", "fontSize": "0.9em",
               "background": "var(--gray-a3)", "borderRadius": "4px", "padding": "0.1em 0.3em"},
    "& pre": {"background": "var(--gray-2)", "border": "1px solid var(--gray-a5)",
              "borderRadius": "var(--radius-3)", "padding": "0.9rem 1rem", "overflowX": "auto"},
    "& pre code": {"background": "none", "padding": 0, "fontSize": "0.85em"},
    "& table": {"borderCollapse": "collapse", "width": "100%", "display": "block",
                "overflowX": "auto", "fontSize": "var(--font-size-2)"},
    "& th, & td": {"border": "1px solid var(--gray-a6)", "padding": "0.45rem 0.7rem",
                   "textAlign": "left", "verticalAlign": "top"},
    "& th": {"background": "var(--gray-a2)", "fontWeight": 600},
    "& blockquote": {"borderLeft": "3px solid var(--accent-8)", "paddingLeft": "1rem",
                     "color": "var(--gray-11)"},
}


def prose(html: str, **props) -> rx.Component:
    """Trusted HTML rendered from the repository's own Markdown."""
    return rx.box(rx.html(html), style=PROSE_STYLE, class_name="doc-prose", **props)
