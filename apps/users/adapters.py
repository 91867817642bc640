"""allauth adapters: where a login lands, who may sign up, and how MFA secrets are stored."""

import time

from allauth.account import app_settings
from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.internal.flows.login import get_authentication_records
from allauth.core import context
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.mfa.adapter import DefaultMFAAdapter
from allauth.mfa.models import Authenticator
from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.urls import reverse

from apps.core import crypto
from apps.core.client_address import client_address
from apps.users.lockout import sign_in_locked_response
from apps.users.mfa import SECOND_FACTOR_TYPES, mfa_missing, mfa_required
from apps.users.models import Role, User


class AccountAdapter(DefaultAccountAdapter):
    def is_reauthentication_required(self, *, app: str, **kwargs: object) -> bool:
        """Someone made to set up their first second factor right after signing in is not asked
        for their password again (allauth would); changing existing factors still is."""
        request = context.request
        if app == "allauth.mfa" and request is not None and mfa_missing(request.user):
            timeout = app_settings.REAUTHENTICATION_TIMEOUT
            records = get_authentication_records(request, request.user)
            if records and time.time() - float(records[-1].get("at", 0)) < timeout:
                return False
        return super().is_reauthentication_required(app=app, **kwargs)

    def get_login_redirect_url(self, request: HttpRequest) -> str:
        if mfa_missing(request.user):
            return reverse("mfa_activate_totp")
        return super().get_login_redirect_url(request)

    def pre_authenticate(self, request: HttpRequest, **credentials: object) -> None:
        """Too many failed sign-ins (per address or per account): 429 with Retry-After, not the
        form again with 200 (allauth's behaviour)."""
        try:
            super().pre_authenticate(request, **credentials)
        except ValidationError as exc:
            if exc.code != "too_many_login_attempts":
                raise
            key = self._get_login_attempts_cache_key(request, **credentials)
            raise ImmediateHttpResponse(sign_in_locked_response(request, key=key)) from None

    def get_client_ip(self, request: HttpRequest) -> str:
        """allauth's sign-in limits count per address: the same trusted-proxy rule as the rest
        of AMAS (allauth would read X-Forwarded-For on its own terms)."""
        return client_address(request) or super().get_client_ip(request)

    def is_open_for_signup(self, request: HttpRequest) -> bool:
        """Self sign-up only when AMAS_ALLOW_SIGNUP is on (allauth itself would always allow it)."""
        return bool(getattr(settings, "ACCOUNT_ALLOW_REGISTRATION", False))

    def save_user(self, request: HttpRequest, user: User, form: object, commit: bool = True) -> User:
        """Self sign-up (off unless AMAS_ALLOW_SIGNUP) joins the default organisation as a
        viewer; an admin grants more."""
        from apps.users.services import DEFAULT_ORGANIZATION, organization_get_or_create

        user = super().save_user(request, user, form, commit=False)
        user.organization = organization_get_or_create(name=DEFAULT_ORGANIZATION)
        user.role = Role.VIEWER
        if commit:
            user.save()
        return user


class MFAAdapter(DefaultMFAAdapter):
    def encrypt(self, text: str) -> str:
        """TOTP secrets are stored encrypted with AMAS_ENCRYPTION_KEYS like every other secret."""
        return crypto.encrypt(text)

    def decrypt(self, encrypted_text: str) -> str:
        if not encrypted_text.startswith(crypto.PREFIX):
            return encrypted_text  # written before encryption was switched on
        return crypto.decrypt(encrypted_text)

    def can_delete_authenticator(self, authenticator: Authenticator) -> bool:
        """Users who must use MFA cannot remove their last second factor."""
        if authenticator.type not in SECOND_FACTOR_TYPES or not mfa_required(authenticator.user):
            return True
        others = Authenticator.objects.filter(user_id=authenticator.user_id, type__in=SECOND_FACTOR_TYPES)
        return others.exclude(pk=authenticator.pk).exists()
