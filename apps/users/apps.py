from django.apps import AppConfig


class UsersConfig(AppConfig):
    name = "apps.users"
    label = "users"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from allauth.account.decorators import secure_admin_login
        from django.contrib import admin

        from apps.audit.services import register_request_trust
        from apps.users import session_user, signals, token_cache
        from apps.users.trust import request_trust

        # Sign-in/MFA audit rows and the trust score of rows other apps write during a request.
        signals.connect()
        register_request_trust(request_trust)
        # Bumps the cached tokens' epochs when a token, its user, MFA or organisation changes.
        token_cache.connect()
        # Bumps a user's epoch when the user changes: the session user cache reloads it.
        session_user.connect()

        # The admin signs in through allauth, so it gets the same MFA, rate limits and audit.
        admin.site.login = secure_admin_login(admin.site.login)  # type: ignore[method-assign]
