"""Deps: what routes need — the store, the caller's identity, and the version they saw."""

from __future__ import annotations

import hmac
import logging
import secrets
from dataclasses import dataclass
from pathlib import Path

from fastapi import Depends, Header, Request
from gridplan.api.errors import HTTPProblem
from gridplan.api.settings import Settings
from gridplan.api.store import Store, etag
from gridplan.api.store.users import Users, rank

log = logging.getLogger(__name__)


def get_settings(request: Request) -> Settings:
    """The app's settings."""
    return request.app.state.settings


def get_store(request: Request) -> Store:
    """The app's plan store."""
    return request.app.state.store


def parse_keys(settings: Settings) -> dict[str, str]:
    """Key → name from ``GRIDPLAN_API_KEYS`` (or the generated key file)."""
    keys = {}
    for item in settings.api_keys.split(","):
        item = item.strip()
        if not item:
            continue
        name, _, key = item.partition(":") if ":" in item else ("api", "", item)
        keys[key.strip()] = name.strip() or "api"
    if not keys:
        keys[generated_key(Path(settings.data_dir))] = "local"
    return keys


def generated_key(data_dir: Path) -> str:
    """A key kept in ``data_dir/api-key.txt`` (made once, readable by the owner only)."""
    path = data_dir / "api-key.txt"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(24) + "\n", encoding="utf-8")
        path.chmod(0o600)
        log.warning("GRIDPLAN_API_KEYS is not set: writes need the key in %s", path)
    return path.read_text(encoding="utf-8").strip()


def _presented(x_api_key: str | None, authorization: str | None) -> str | None:
    if x_api_key:
        return x_api_key.strip()
    if authorization and authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    return None


@dataclass(frozen=True)
class Identity:
    """Who calls: a signed-in user (``via="session"``) or an API key (``via="key"``).

    ``name`` is recorded as the author of what they write; ``role`` is viewer, editor or
    admin (API keys have ``GRIDPLAN_API_KEY_ROLE``, admin by default).
    """

    name: str
    role: str
    via: str


def get_users(request: Request) -> Users:
    """The accounts and sessions of the app's store."""
    return request.app.state.users


def _identify(request: Request, x_api_key: str | None, authorization: str | None
              ) -> Identity | None:
    key = _presented(x_api_key, authorization)
    if key is None:
        return None
    for known, name in request.app.state.api_keys.items():
        if hmac.compare_digest(known.encode(), key.encode()):
            return Identity(name, request.app.state.settings.api_key_role, "key")
    session = get_users(request).session(key)  # a sign-in token, sent either way
    if session is not None:
        return Identity(session["name"], session["role"], "session")
    raise HTTPProblem(401, "the API key or sign-in token is not valid (or has expired)",
                      "check the key (X-API-Key header or Authorization: Bearer), or sign in "
                      "again with POST /auth/login", headers={"WWW-Authenticate": "Bearer"})


def caller(request: Request, x_api_key: str | None = Header(None),
           authorization: str | None = Header(None)) -> Identity | None:
    """The caller's identity, if they sent a key or a sign-in token."""
    return _identify(request, x_api_key, authorization)


def identity_of(role: str):
    """A dependency giving the caller's :class:`Identity`, who must have ``role`` or above."""

    def need(who: Identity | None = Depends(caller)) -> Identity:
        if who is None:
            raise HTTPProblem(401, "writing needs an API key or a sign-in",
                              "send X-API-Key: <key> or Authorization: Bearer <key or token> "
                              "(keys are set with GRIDPLAN_API_KEYS; users sign in with "
                              "POST /auth/login)", headers={"WWW-Authenticate": "Bearer"})
        if rank(who.role) < rank(role):
            what = "writes (edits, uploads, jobs)" if role == "editor" else "manages users"
            raise HTTPProblem(403, f"{who.name} has the {who.role} role; only {role}s "
                              f"{'and admins ' if role == 'editor' else ''}may do this",
                              f"a {who.role} reads only; ask an admin for the {role} role "
                              f"(an {role} {what})", role=who.role, needs=role)
        return who

    return need


editor_identity = identity_of("editor")
admin_identity = identity_of("admin")


def writer(who: Identity = Depends(editor_identity)) -> str:
    """Name of the caller, who must be an editor or admin (a user, or an API key)."""
    return who.name


def admin(who: Identity = Depends(admin_identity)) -> str:
    """Name of the caller, who must be an admin."""
    return who.name


def reader(request: Request, who: Identity | None = Depends(caller)) -> str | None:
    """Name of the caller, if any; a key or sign-in is required when reads are closed."""
    if who is None and not request.app.state.settings.open_reads:
        raise HTTPProblem(401, "reading needs an API key or a sign-in on this server",
                          "send X-API-Key: <key> or Authorization: Bearer <token> "
                          "(GRIDPLAN_OPEN_READS is false here)",
                          headers={"WWW-Authenticate": "Bearer"})
    return who.name if who else None


def if_match(plan_id: str, if_match: str | None = Header(None, alias="If-Match"),
             store: Store = Depends(get_store)) -> int:
    """The version the caller edits: their ``If-Match`` must name the plan's head."""
    head = store.head(plan_id)
    current = etag(plan_id, head)
    if if_match is None:
        raise HTTPProblem(428, "edits need an If-Match header with the plan's ETag",
                          f"GET /plans/{plan_id} and send its ETag, e.g. If-Match: {current}",
                          headers={"ETag": current}, etag=current)
    tags = [t.strip().removeprefix("W/") for t in if_match.split(",")]
    if current not in tags and "*" not in tags:
        raise HTTPProblem(412, f"the plan changed: it is at version {head} now",
                          "reload the plan and redo the edit with If-Match: " + current,
                          headers={"ETag": current}, etag=current)
    return head
