"""Keyboard and screen-reader pieces shared by every page: the skip link, links that look like
buttons (one element, one Tab stop), and focus that returns to what opened a dialog."""

from __future__ import annotations

import reflex as rx
from reflex.components.react_router.dom import ReactRouterLink

MAIN_ID = "main-content"

# Radix returns focus to a dialog's Trigger; our dialogs are opened from state (a card's
# button, a refused action), so without this the focus would fall to <body> when they close.
# Remember the last control focused outside any dialog and go back to it; when it is gone (a
# deleted project's card), go to the page's main region instead.
FOCUS_RETURN_SCRIPT = """
(function () {
  var last = null;
  var inDialog = function (el) {
    return el && el.closest && el.closest('[role=dialog],[role=alertdialog]');
  };
  document.addEventListener('focusin', function (e) {
    if (!inDialog(e.target) && e.target !== document.body) { last = e.target; }
  }, true);
  document.addEventListener('pointerdown', function (e) {
    var el = e.target.closest ? e.target.closest('button,a,[tabindex]') : null;
    if (el && !inDialog(el)) { last = el; }
  }, true);
  document.addEventListener('click', function (e) {
    var skip = e.target.closest ? e.target.closest('.skip-link') : null;
    var main = skip && document.getElementById('MAIN_ID');
    if (main) { e.preventDefault(); main.focus(); main.scrollIntoView(); }
  });
  var open = false;
  var FOCUSABLE = 'button:not([disabled]),[href],input:not([disabled]),select,textarea,' +
    '[tabindex]:not([tabindex="-1"])';
  var check = function () {
    var dialog = document.querySelector('[role=dialog],[role=alertdialog]');
    var now = !!dialog;
    if (!open && now) {
      // Radix focuses a dialog's Cancel through a ref that Reflex's memoized buttons don't
      // pass on; when nothing inside has the focus yet, give it to the first control.
      setTimeout(function () {
        if (!dialog.isConnected || dialog.contains(document.activeElement)) { return; }
        var first = dialog.querySelector('[data-autofocus]') || dialog.querySelector(FOCUSABLE);
        (first || dialog).focus();
      }, 30);
    }
    if (open && !now) {
      setTimeout(function () {
        var active = document.activeElement;
        if (active && active !== document.body) { return; }
        if (last && last.isConnected && !last.disabled) { last.focus(); return; }
        var main = document.getElementById('MAIN_ID');
        if (main) { main.focus(); }
      }, 0);
    }
    open = now;
  };
  new MutationObserver(check).observe(document.documentElement, {childList: true, subtree: true});
})();
""".replace("MAIN_ID", MAIN_ID)


def skip_link() -> rx.Component:
    """The first Tab stop of every page: jump past the header to the content."""
    return rx.el.a("Skip to content", href="#" + MAIN_ID, class_name="skip-link",
                   id="skip-link")


def main_region(*children: rx.Component, **props) -> rx.Component:
    """The page's <main>, the skip link's target (focusable from script, not by Tab)."""
    return rx.el.main(*children, id=MAIN_ID, tab_index=-1, style={"outline": "none"}, **props)


def link_button(*children, href: str, **props) -> rx.Component:
    """A link drawn as a button: a single <a> (no button inside a link, so one Tab stop and
    a role screen readers announce right), navigating inside the app without a reload."""
    link_props = {k: props.pop(k) for k in ("id", "aria_label", "target") if k in props}
    return rx.button(ReactRouterLink.create(*children, to=href, **link_props), as_child=True,
                     **props)
