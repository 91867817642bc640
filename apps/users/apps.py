from django.apps import AppConfig


class UsersConfig(AppConfig):
    name = "apps.users"
    label = "users"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from allauth.account.decorators import secure_admin_login
        from django.contrib import admin
        from django.core.signals import request_finished, request_started

        from apps.audit.services import register_request_trust
        from apps.core import config_cache
        from apps.users import session_user, signals, token_cache
        from apps.users.trust import request_trust

        # Sign-in/MFA audit rows and the trust score of rows other apps write during a request.
        signals.connect()
        register_request_trust(request_trust)
        # Bumps the cached tokens' epochs when a token, its user, MFA or organisation changes.
        token_cache.connect()
        # Bumps a user's epoch when the user changes: the session user cache reloads it.
        session_user.connect()
        # The session engine (apps/users/sessions.py) reads the configuration version with the
        # session for the request's first pinned block; an offer lives for one HTTP request.
        request_started.connect(config_cache.version_offer_open, dispatch_uid="amas-config-offer-open")
        request_finished.connect(config_cache.version_offer_close, dispatch_uid="amas-config-offer-close")

        # The admin signs in through allauth, so it gets the same MFA, rate limits and audit.
        admin.site.login = secure_admin_login(admin.site.login)  # type: ignore[method-assign]
