"""/v1/users and their API keys: administrators only. /v1/me: anyone authenticated."""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import APIRouter, status
from pydantic import BaseModel, EmailStr, Field

from api.deps import AdminDep, CallerDep, PageDep, PoolDep
from api.pagination import PageOf
from api.problems import problem_responses
from app import branding as app_branding
from app import users as app_users
from domain.email import Branding
from domain.onboarding import Language
from domain.setup import Role
from domain.text import Text
from domain.time_zones import TimeZoneName
from store import partners

router = APIRouter(prefix="/v1", tags=["users"])


class UserBase(BaseModel):
    email: EmailStr
    name: Text = Field(min_length=1, max_length=200)
    role: Role


class UserCreate(UserBase):
    language: Language = Field(
        default=Language.fr, description="The language of the user's own e-mails"
    )


class UserUpdate(BaseModel):
    name: Text | None = Field(default=None, min_length=1, max_length=200)
    role: Role | None = None
    language: Language | None = None


class UserPublic(UserBase):
    id: uuid.UUID
    language: Language = Field(description="The language of the user's own e-mails")
    created_at: datetime


class Me(BaseModel):
    partner_id: uuid.UUID
    partner_name: str
    user: UserPublic


class TimeZone(BaseModel):
    time_zone: TimeZoneName = Field(
        description="The firm's IANA time zone: the console shows and reads dates and times in it"
    )


class ApiKeyCreate(BaseModel):
    name: Text = Field(min_length=1, max_length=100, description="What the key is for")


class ApiKeyPublic(BaseModel):
    id: uuid.UUID
    user_id: uuid.UUID
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyPublic):
    key: str = Field(description="The key itself: shown this once, stored only as a hash")


def _user(u: partners.UserRow) -> UserPublic:
    return UserPublic(
        id=u.id,
        email=u.email,
        name=u.name,
        role=u.role,
        language=Language(u.language),
        created_at=u.created_at,
    )


def _key(k: partners.ApiKeyRow) -> ApiKeyPublic:
    return ApiKeyPublic(
        id=k.id,
        user_id=k.user_id,
        name=k.name,
        prefix=k.prefix,
        created_at=k.created_at,
        last_used_at=k.last_used_at,
        revoked_at=k.revoked_at,
    )


@router.get("/me", response_model=Me)
async def read_me(caller: CallerDep) -> Me:
    """The caller: their partner and their user."""
    return Me(
        partner_id=caller.partner.id, partner_name=caller.partner.name, user=_user(caller.user)
    )


@router.get("/branding", response_model=Branding)
async def read_branding(caller: CallerDep) -> Branding:
    """How the partner's e-mails look: display name, sender, reply-to, logo, colour."""
    return app_branding.current(caller.partner.name, caller.partner.settings)


@router.put("/branding", response_model=Branding, responses=problem_responses(403))
async def update_branding(body: Branding, caller: AdminDep, pool: PoolDep) -> Branding:
    """Set the partner's e-mail branding (administrators)."""
    return await app_branding.update(
        pool, partner_id=caller.partner.id, role=caller.user.role, branding=body
    )


@router.get("/time-zone", response_model=TimeZone)
async def read_time_zone(caller: CallerDep) -> TimeZone:
    """The firm's time zone (Europe/Paris unless set)."""
    return TimeZone(time_zone=caller.partner.time_zone)


@router.put("/time-zone", response_model=TimeZone, responses=problem_responses(403))
async def update_time_zone(body: TimeZone, caller: AdminDep, pool: PoolDep) -> TimeZone:
    """Set the firm's time zone (administrators): an IANA name such as America/New_York."""
    await partners.set_time_zone(pool, partner_id=caller.partner.id, time_zone=body.time_zone)
    return body


@router.get("/users", response_model=PageOf[UserPublic], responses=problem_responses(403))
async def read_users(caller: AdminDep, pool: PoolDep, page: PageDep) -> PageOf[UserPublic]:
    """The partner's users."""
    rows, total = await app_users.list_users(
        pool,
        partner_id=caller.partner.id,
        role=caller.user.role,
        limit=page.limit,
        offset=page.offset,
    )
    return PageOf(items=[_user(u) for u in rows], total=total, limit=page.limit, offset=page.offset)


@router.post(
    "/users",
    response_model=UserPublic,
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(403, 409),
)
async def create_user(body: UserCreate, caller: AdminDep, pool: PoolDep) -> UserPublic:
    """Add a user to the partner."""
    row = await app_users.create_user(
        pool,
        partner_id=caller.partner.id,
        role=caller.user.role,
        email=str(body.email),
        name=body.name,
        user_role=body.role,
        language=body.language.value,
    )
    return _user(row)


@router.get("/users/{user_id}", response_model=UserPublic, responses=problem_responses(403, 404))
async def read_user(user_id: uuid.UUID, caller: AdminDep, pool: PoolDep) -> UserPublic:
    """One user."""
    return _user(
        await app_users.get_user(
            pool, partner_id=caller.partner.id, role=caller.user.role, user_id=user_id
        )
    )


@router.patch(
    "/users/{user_id}", response_model=UserPublic, responses=problem_responses(403, 404, 409)
)
async def update_user(
    user_id: uuid.UUID, body: UserUpdate, caller: AdminDep, pool: PoolDep
) -> UserPublic:
    """Rename a user, change their role or the language of their e-mails."""
    row = await app_users.update_user(
        pool,
        partner_id=caller.partner.id,
        role=caller.user.role,
        user_id=user_id,
        name=body.name,
        user_role=body.role,
        language=body.language.value if body.language else None,
    )
    return _user(row)


@router.delete(
    "/users/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(403, 404, 409),
)
async def delete_user(user_id: uuid.UUID, caller: AdminDep, pool: PoolDep) -> None:
    """Remove a user; their API keys go with them. Not oneself, nor the last administrator."""
    await app_users.delete_user(
        pool,
        partner_id=caller.partner.id,
        role=caller.user.role,
        caller_id=caller.user.id,
        user_id=user_id,
    )


@router.get(
    "/users/{user_id}/api-keys",
    response_model=list[ApiKeyPublic],
    responses=problem_responses(403, 404),
)
async def read_api_keys(user_id: uuid.UUID, caller: AdminDep, pool: PoolDep) -> list[ApiKeyPublic]:
    """A user's API keys (never the keys themselves)."""
    rows = await app_users.list_keys(
        pool, partner_id=caller.partner.id, role=caller.user.role, user_id=user_id
    )
    return [_key(k) for k in rows]


@router.post(
    "/users/{user_id}/api-keys",
    response_model=ApiKeyCreated,
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(403, 404),
)
async def create_api_key(
    user_id: uuid.UUID, body: ApiKeyCreate, caller: AdminDep, pool: PoolDep
) -> ApiKeyCreated:
    """Create a key for a user; the answer is the only time the key is shown."""
    row, key = await app_users.create_key(
        pool, partner_id=caller.partner.id, role=caller.user.role, user_id=user_id, name=body.name
    )
    return ApiKeyCreated(**_key(row).model_dump(), key=key)


@router.delete(
    "/api-keys/{key_id}", response_model=ApiKeyPublic, responses=problem_responses(403, 404)
)
async def revoke_api_key(key_id: uuid.UUID, caller: AdminDep, pool: PoolDep) -> ApiKeyPublic:
    """Revoke a key: it stops working at once. Revoking twice is harmless."""
    return _key(
        await app_users.revoke_key(
            pool, partner_id=caller.partner.id, role=caller.user.role, key_id=key_id
        )
    )
