"""allauth adapters: where a login lands, who may sign up, and how MFA secrets are stored."""

import time
from urllib.parse import urlencode

from allauth.account import app_settings
from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.internal.flows.login import get_authentication_records
from allauth.core import context
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.mfa.adapter import DefaultMFAAdapter
from allauth.mfa.models import Authenticator
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import reverse

from apps.core import crypto
from apps.core.client_address import client_address
from apps.core.exceptions import ApplicationError
from apps.users.lockout import sign_in_locked_response
from apps.users.mfa import SECOND_FACTOR_TYPES, mfa_missing, mfa_required
from apps.users.models import Invitation, Role, User


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
        """Sign-up with a valid invitation (apps/users/invitations.py), whatever the setting; self
        sign-up only when AMAS_ALLOW_SIGNUP is on (allauth itself would always allow it).

        The invitation link (/accounts/signup/?invitation=TOKEN) puts the token's hash in the session and
        redirects to the plain sign-up page, so the token leaves the address bar (history,
        Referer) before the form is shown."""
        from apps.users.invitations import INVITATION_PARAM, SESSION_KEY, invitation_for_token

        signup_path = reverse("account_signup")
        token = request.GET.get(INVITATION_PARAM)
        if token is not None and request.path == signup_path:
            invitation = invitation_for_token(token)
            if invitation is None:
                request.session.pop(SESSION_KEY, None)
                request.amas_invitation_invalid = True  # type: ignore[attr-defined]  # for signup_closed.html
                return False
            request.session[SESSION_KEY] = invitation.token_hash
            raise ImmediateHttpResponse(
                HttpResponseRedirect(f"{signup_path}?{urlencode({'email': invitation.email})}")
            )
        invitation = self.signup_invitation(request)
        if invitation is not None:
            request.amas_invitation = invitation  # type: ignore[attr-defined]  # for signup.html
            return True
        return bool(getattr(settings, "ACCOUNT_ALLOW_REGISTRATION", False))

    def signup_invitation(self, request: HttpRequest | None) -> Invitation | None:
        """The pending invitation this browser is signing up with, if any."""
        from apps.users.invitations import SESSION_KEY, invitation_pending

        if request is None or not hasattr(request, "session"):
            return None
        token_hash = request.session.get(SESSION_KEY)
        return invitation_pending(token_hash) if token_hash else None

    def clean_email(self, email: str) -> str:
        """Signing up with an invitation: only with the invited address."""
        email = super().clean_email(email)
        request = context.request
        if request is not None and request.path == reverse("account_signup"):
            invitation = self.signup_invitation(request)
            if invitation is not None and email.strip().lower() != invitation.email:
                raise ValidationError(
                    f"This invitation is for {invitation.email}: sign up with that address."
                )
        return email

    def save_user(self, request: HttpRequest, user: User, form: object, commit: bool = True) -> User:
        """With an invitation: the inviting organisation and the invited role (the invitation is
        used up in the same transaction). Self sign-up (off unless AMAS_ALLOW_SIGNUP) joins the
        default organisation as a viewer; an admin grants more."""
        from apps.users.invitations import SESSION_KEY, invitation_accept
        from apps.users.services import DEFAULT_ORGANIZATION, organization_get_or_create

        user = super().save_user(request, user, form, commit=False)
        invitation = self.signup_invitation(request)
        if invitation is not None:
            token_hash = request.session[SESSION_KEY]
            try:
                with transaction.atomic():
                    user.organization, user.role = invitation.organization, invitation.role
                    user.save()
                    invitation_accept(token_hash=token_hash, user=user, request=request)
            except ApplicationError:
                # Used, revoked or expired between the form and now: nothing was created.
                request.session.pop(SESSION_KEY, None)
                raise ImmediateHttpResponse(HttpResponseRedirect(reverse("account_signup"))) from None
            request.session.pop(SESSION_KEY, None)
            return user
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
