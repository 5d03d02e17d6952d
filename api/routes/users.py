"""Sign-in and accounts: ``/auth/login``, ``/auth/logout``, ``/auth/me``, and ``/users``
(admins only) to add, list, change and remove users."""

from __future__ import annotations

import logging
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Path, Response, status
from gridplan.api.deps import (
    Identity,
    admin,
    caller,
    get_settings,
    get_users,
)
from gridplan.api.errors import HTTPProblem
from gridplan.api.settings import Settings
from gridplan.api.store.users import Users
from pydantic import BaseModel, ConfigDict, Field

log = logging.getLogger(__name__)

router = APIRouter(tags=["users"])

Name = Annotated[str, Field(min_length=1, max_length=100)]
Password = Annotated[str, Field(min_length=1, max_length=1000)]
Role = Literal["viewer", "editor", "admin"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Login(Strict):
    """A user's name and password."""

    name: Name
    password: Password


class NewUser(Strict):
    """An account to create (password at least 8 characters)."""

    name: Name
    role: Role = "editor"
    password: Password


class RoleChange(Strict):
    """The role to give."""

    role: Role


@router.post("/auth/login", summary="Sign in: name and password → bearer token")
def login(body: Login, users: Users = Depends(get_users),
          settings: Settings = Depends(get_settings)) -> dict:
    """A bearer token for ``Authorization: Bearer <token>`` (stored only hashed), valid for
    ``GRIDPLAN_SESSION_HOURS``; 401 when the name or password is wrong."""
    got = users.sign_in(body.name, body.password, hours=settings.session_hours)
    if got is None:
        log.info("failed sign-in as %s", body.name)
        raise HTTPProblem(401, "the name or the password is wrong",
                          "check both; an admin adds users with `gridplan users add NAME`",
                          headers={"WWW-Authenticate": "Bearer"})
    token, expires = got
    user = users.get(body.name)
    return {"token": token, "token_type": "bearer", "expires": expires.isoformat(),
            "name": user["name"], "role": user["role"]}


@router.post("/auth/logout", summary="Sign out (end this token's session)",
             status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
def logout(authorization: str | None = Header(None), users: Users = Depends(get_users)):
    """End the session of the bearer token sent; 401 if there is none."""
    token = authorization[7:].strip() if authorization and authorization.lower().startswith(
        "bearer ") else ""
    if not token or not users.sign_out(token):
        raise HTTPProblem(401, "no signed-in session goes with this request",
                          "send the token from POST /auth/login as Authorization: Bearer",
                          headers={"WWW-Authenticate": "Bearer"})
    return Response(status_code=204)


@router.get("/auth/me", summary="Who am I")
def me(who: Identity | None = Depends(caller)) -> dict:
    """The caller's name, role and how they signed in (``session`` or ``key``); an
    anonymous caller gets ``{"name": null}``."""
    if who is None:
        return {"name": None, "role": None, "via": None}
    return {"name": who.name, "role": who.role, "via": who.via}


UserName = Annotated[str, Path(max_length=100)]


@router.get("/users", summary="List users (admins)", dependencies=[Depends(admin)])
def list_users(users: Users = Depends(get_users)) -> list[dict]:
    """Every account: name, role, created (never a password hash)."""
    return users.list()


@router.post("/users", summary="Add a user (admins)", status_code=201,
             dependencies=[Depends(admin)])
def add_user(body: NewUser, users: Users = Depends(get_users)) -> dict:
    """Create an account (409 if the name is taken)."""
    return users.add(body.name, body.role, body.password)


@router.put("/users/{name}/role", summary="Change a user's role (admins)",
            dependencies=[Depends(admin)])
def set_role(name: UserName, body: RoleChange, users: Users = Depends(get_users)) -> dict:
    """Give an account another role (it applies to its next request)."""
    return users.set_role(name, body.role)


@router.delete("/users/{name}", summary="Remove a user (admins)", status_code=204,
               response_class=Response, dependencies=[Depends(admin)])
def remove_user(name: UserName, users: Users = Depends(get_users)):
    """Delete an account and end its sessions; its versions keep its name as author."""
    users.remove(name)
    return Response(status_code=204)
