"""allauth forms the account pages need to behave differently."""

from __future__ import annotations

from typing import Any

from allauth.mfa.totp.forms import ActivateTOTPForm
from allauth.mfa.totp.internal import auth
from django import forms


class StableActivateTOTPForm(ActivateTOTPForm):
    """The TOTP setup page keeps its secret until it is confirmed: allauth draws a new one on
    every GET, so a reload (or the required-MFA redirect landing again) would silently invalidate
    the code the user just scanned. The secret lives in the session until activation clears it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.user = kwargs.pop("user")
        forms.Form.__init__(self, *args, **kwargs)
        self.secret = auth.get_totp_secret(regenerate=False)
