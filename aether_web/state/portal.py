"""The way to Stripe's Customer Portal (card, invoices, cancellation), for every state that
offers it: the header's past-due banner and /billing."""

from __future__ import annotations

import asyncio

import reflex as rx

from aether_web.errors import AetherError
from aether_web.services import billing as billing_service
from aether_web.state.auth import login_required
from aether_web.state.flash import FlashState


class PortalMixin(rx.State, mixin=True):
    """`open_portal`, for a state that is also an `AuthState`. Where the Portal's refusal is
    shown is the state's own `_portal_error`."""

    def _portal_error(self, message: str):
        """Say why the Portal didn't open ("" when it is being opened): the app-wide notice
        by default."""
        return FlashState.show("error", message) if message else None

    @rx.event(background=True)
    @login_required
    async def open_portal(self):
        """Open the Customer Portal. `billing.portal_url` owns its transaction and Stripe is
        called on a worker thread, outside the state lock, so a slow Stripe holds up neither
        this page's other events nor anyone else's."""
        async with self:
            self._portal_error("")
            user_id = self._current_user_id()
        try:
            url = await asyncio.to_thread(billing_service.portal_url, user_id=user_id)
        except AetherError as exc:
            async with self:
                return self._portal_error(exc.message)
        return rx.redirect(url)  # another host: the browser leaves the app in this tab
