"""Deps: what routes need — the store, the caller's identity, and the version they saw."""

from __future__ import annotations

import hmac
import logging
import secrets
from pathlib import Path

from fastapi import Depends, Header, Request
from gridplan.api.errors import HTTPProblem
from gridplan.api.settings import Settings
from gridplan.api.store import Store, etag

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


def _identify(request: Request, x_api_key: str | None, authorization: str | None) -> str | None:
    key = _presented(x_api_key, authorization)
    if key is None:
        return None
    for known, name in request.app.state.api_keys.items():
        if hmac.compare_digest(known.encode(), key.encode()):
            return name
    raise HTTPProblem(401, "the API key is not valid", "check the key (X-API-Key header or "
                      "Authorization: Bearer)", headers={"WWW-Authenticate": "Bearer"})


def writer(request: Request, x_api_key: str | None = Header(None),
           authorization: str | None = Header(None)) -> str:
    """Name of the caller, who must present a write key."""
    name = _identify(request, x_api_key, authorization)
    if name is None:
        raise HTTPProblem(401, "writing needs an API key",
                          "send X-API-Key: <key> or Authorization: Bearer <key> "
                          "(keys are set with GRIDPLAN_API_KEYS)",
                          headers={"WWW-Authenticate": "Bearer"})
    return name


def reader(request: Request, x_api_key: str | None = Header(None),
           authorization: str | None = Header(None)) -> str | None:
    """Name of the caller, if any; a key is required when reads are closed."""
    name = _identify(request, x_api_key, authorization)
    if name is None and not request.app.state.settings.open_reads:
        raise HTTPProblem(401, "reading needs an API key on this server",
                          "send X-API-Key: <key> (GRIDPLAN_OPEN_READS is false here)",
                          headers={"WWW-Authenticate": "Bearer"})
    return name


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
