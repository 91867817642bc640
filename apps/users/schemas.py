from datetime import datetime
from typing import Any, Literal

from ninja import Field, Schema
from pydantic import StrictInt


class TokenIn(Schema):
    name: str = Field(min_length=1, max_length=100)
    scopes: list[str] = Field(min_length=1)
    # le: far above AMAS_TOKEN_MAX_DAYS (checked by the service), below what a date can hold
    expires_in_days: StrictInt | None = Field(
        default=None, ge=1, le=36_500, description="Default AMAS_TOKEN_DEFAULT_DAYS."
    )


class TokenOut(Schema):
    id: int
    name: str
    prefix: str
    scopes: list[str]
    owner: str = Field(alias="user.email")
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None
    is_active: bool


class TokenCreatedOut(TokenOut):
    token: str = Field(description="The secret. Shown only in this response; store it now.")


class MeOut(Schema):
    id: int
    email: str
    organization: str | None
    role: str
    scopes: list[str]
    auth: str
    token_prefix: str | None = None


RoleName = Literal["admin", "analyst", "viewer"]


class MemberOut(Schema):
    id: int
    email: str
    full_name: str
    role: str
    is_active: bool
    date_joined: datetime
    last_login: datetime | None


class MemberPatch(Schema):
    role: RoleName


class InvitationIn(Schema):
    email: str = Field(min_length=3, max_length=254, description="The invitee's e-mail address.")
    role: RoleName = "analyst"


class InvitationOut(Schema):
    """The link's token is never returned: it goes to the invitee by e-mail only."""

    id: int
    email: str
    role: str
    status: Literal["pending", "accepted", "revoked", "expired"]
    invited_by: str | None = None
    created_at: datetime
    sent_at: datetime
    send_count: int
    expires_at: datetime
    accepted_at: datetime | None
    revoked_at: datetime | None

    @staticmethod
    def resolve_invited_by(obj: Any) -> str | None:
        return obj.invited_by.email if obj.invited_by is not None else None
