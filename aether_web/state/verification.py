"""Sending the email confirmation link again, from the banner, the billing page or settings."""

from __future__ import annotations

import reflex as rx

from aether_web.db import transaction
from aether_web.errors import AetherError
from aether_web.services import verification
from aether_web.services.email import deliver_soon
from aether_web.state.auth import AuthState, SessionEnded


class VerificationState(AuthState):
    """The "confirm your email" banner's resend action."""

    resend_message: str = ""
    resending: bool = False

    @rx.event(background=True)
    async def resend(self):
        """Email a new confirmation link (at most a few an hour). A session that ended is said
        in the banner, beside the button, rather than leaving the page."""
        async with self:
            self.resending = True
            self.resend_message = ""
        message = ""
        try:
            with transaction() as session:
                async with self:
                    user_id = self._user_id(session)
                sent = verification.resend_verification(session, user_id=user_id)
            message = ("We've sent a new link. It works for 48 hours." if sent
                       else "Your email address is already confirmed.")
            if sent:
                deliver_soon()
        except SessionEnded:
            message = "Please log in again."
        except AetherError as exc:
            message = exc.message
        async with self:
            self.resending = False
            self.resend_message = message
