from datetime import datetime

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
