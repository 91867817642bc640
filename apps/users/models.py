from typing import ClassVar

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.utils import timezone

from apps.core.models import TimeStampedModel


class Organization(TimeStampedModel):
    name = models.CharField(max_length=200, unique=True)
    slug = models.SlugField(max_length=80, unique=True)

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"  # manage members, agents, providers, webhooks
    ANALYST = "analyst", "Analyst"  # create and run tasks, see the organisation's tasks
    VIEWER = "viewer", "Viewer"  # read only


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def _create(self, email: str, password: str | None, **extra: object) -> "User":
        if not email:
            raise ValueError("An e-mail address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra: object) -> "User":
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra: object) -> "User":
        extra.update(is_staff=True, is_superuser=True)
        extra.setdefault("role", Role.ADMIN)
        return self._create(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    email = models.EmailField(unique=True)
    full_name = models.CharField(max_length=200, blank=True)
    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="members", null=True, blank=True
    )
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.ANALYST)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    def __str__(self) -> str:
        return self.email

    @property
    def can_write(self) -> bool:
        return self.is_superuser or self.role in (Role.ADMIN, Role.ANALYST)

    @property
    def is_org_admin(self) -> bool:
        return self.is_superuser or self.role == Role.ADMIN


class TokenScope(models.TextChoices):
    TASKS_READ = "tasks:read", "Read tasks"
    TASKS_WRITE = "tasks:write", "Create and run tasks"
    AGENTS_READ = "agents:read", "Read agents"
    ADMIN = "admin", "Administer the organisation"


class ApiTokenQuerySet(models.QuerySet["ApiToken"]):
    def update(self, **kwargs: object) -> int:
        """A bulk update that can end tokens' validity (revoked_at, expires_at, scopes, owner)
        ends their cached validity in every process too (apps.users.token_cache): signals do not
        see queryset updates. Recording a use (last_used_*) does not."""
        if not set(kwargs) - {"last_used_at", "last_used_ip"}:
            return super().update(**kwargs)
        from apps.users.token_cache import epochs_bump

        hashes = list(self.values_list("hashed_secret", flat=True))
        epochs_bump(hashes)
        return super().update(**kwargs)


class ApiToken(models.Model):
    """A bearer token for the API and websockets. Only the SHA-256 of the token is stored; the
    token itself is shown once, when created. `prefix` identifies it in lists and logs."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    hashed_secret = models.CharField(max_length=64, unique=True)
    scopes = models.JSONField(default=list)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_used_ip = models.CharField(max_length=64, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "revoked_at"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix})"

    @property
    def is_active(self) -> bool:
        now = timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


class KnownClient(models.Model):
    """An IP address or device (fingerprint cookie) from which the user completed a login or a
    re-authentication. Requests from anywhere else score lower trust."""

    class Kind(models.TextChoices):
        IP = "ip", "IP address"
        DEVICE = "device", "Device"

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="known_clients")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    value = models.CharField(max_length=128)
    first_seen = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "kind", "value"], name="known_client_unique")]

    def __str__(self) -> str:
        return f"{self.user_id} {self.kind} {self.value}"


class Invitation(models.Model):
    """An organisation admin's invitation of an e-mail address into the organisation with a role.
    Only the SHA-256 of the link's token is stored (the token travels in the e-mail only); a resend
    issues a new token, so an older link stops working. Accepted through allauth's sign-up."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.ANALYST)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(default=timezone.now)
    send_count = models.PositiveIntegerField(default=1)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # One open invitation per address and organisation (a second invite is a resend).
            models.UniqueConstraint(
                fields=["organization", "email"],
                condition=models.Q(accepted_at__isnull=True, revoked_at__isnull=True),
                name="invitation_one_open_per_email",
            )
        ]

    def __str__(self) -> str:
        return f"{self.email} -> {self.organization_id} ({self.role})"

    @property
    def status(self) -> str:
        if self.accepted_at is not None:
            return "accepted"
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at <= timezone.now():
            return "expired"
        return "pending"
