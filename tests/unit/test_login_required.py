"""`state.auth.login_required`: a handler whose session has ended sends the visitor to log in,
whatever kind of handler it is, and otherwise answers as the handler does."""

from __future__ import annotations

import asyncio
import inspect

from aether_web.errors import AetherError, Unauthenticated
from aether_web.state.auth import SessionEnded, login_required

TO_LOGIN = "to log in"


class Page:
    def __init__(self, signed_in: bool) -> None:
        self.signed_in = signed_in

    def _login_redirect(self):
        return TO_LOGIN

    def _check(self):
        if not self.signed_in:
            raise Unauthenticated()

    @login_required
    def plain(self, value: str):
        self._check()
        return value

    @login_required
    def steps(self, value: str):
        yield "started"
        self._check()
        yield value

    @login_required
    async def awaited(self, value: str):
        await asyncio.sleep(0)
        self._check()
        return value

    @login_required
    async def async_steps(self, value: str):
        yield "started"
        self._check()
        yield value


async def _collect(agen) -> list:
    return [item async for item in agen]


def test_each_kind_of_handler_keeps_its_kind_and_signature():
    assert inspect.isgeneratorfunction(Page.steps)
    assert inspect.iscoroutinefunction(Page.awaited)
    assert inspect.isasyncgenfunction(Page.async_steps)
    assert list(inspect.signature(Page.plain).parameters) == ["self", "value"]
    assert Page.awaited.__name__ == "awaited"


def test_signed_in_answers_as_the_handler():
    page = Page(signed_in=True)
    assert page.plain("ok") == "ok"
    assert list(page.steps("ok")) == ["started", "ok"]
    assert asyncio.run(page.awaited("ok")) == "ok"
    assert asyncio.run(_collect(page.async_steps("ok"))) == ["started", "ok"]


def test_a_session_that_ended_goes_to_log_in():
    page = Page(signed_in=False)
    assert page.plain("ok") == TO_LOGIN
    assert list(page.steps("ok")) == ["started", TO_LOGIN]
    assert asyncio.run(page.awaited("ok")) == TO_LOGIN
    assert asyncio.run(_collect(page.async_steps("ok"))) == ["started", TO_LOGIN]


class Console(Page):
    """A page whose handler shows its own refusals (`except AetherError`), as most do."""

    def _check(self):
        if not self.signed_in:
            raise SessionEnded()

    @login_required
    def shows_refusals(self):
        try:
            self._check()
        except AetherError as exc:
            return exc.message
        return "ok"


def test_a_session_that_ended_is_not_a_refusal_the_handler_shows():
    assert Console(signed_in=True).shows_refusals() == "ok"
    assert Console(signed_in=False).shows_refusals() == TO_LOGIN
