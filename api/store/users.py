"""Users: accounts with a role and a hashed password, and the sessions sign-in hands out.

Passwords are hashed with scrypt from the standard library (:func:`hashlib.scrypt`, a
memory-hard key derivation, RFC 7914): no dependency is needed for it. Sign-in tokens are
random (:func:`secrets.token_urlsafe`) and only their SHA-256 is stored, so a copy of the
database gives no usable token; each expires.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from datetime import UTC, datetime, timedelta

from gridplan.api.store import schema as s
from gridplan.api.store.store import NotFound, Store, now
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from gridplan.errors import GridplanError, InputError

log = logging.getLogger(__name__)

ROLES = ("viewer", "editor", "admin")  # each may do what the ones before it may
SCRYPT = {"n": 2 ** 14, "r": 8, "p": 1}  # 16 MiB, about 50 ms a hash
NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-@")
MIN_PASSWORD = 8


class UserExists(GridplanError):
    """A user name that is taken already."""


def rank(role: str) -> int:
    """Position of ``role`` in :data:`ROLES` (viewer 0, editor 1, admin 2).

    Examples
    --------
    >>> rank("admin") > rank("editor") > rank("viewer")
    True
    """
    return ROLES.index(role)


def hash_password(password: str) -> str:
    """``scrypt$n$r$p$salt$hash`` (hex) of ``password`` with a fresh random salt.

    Examples
    --------
    >>> stored = hash_password("correct horse")
    >>> stored.startswith("scrypt$16384$8$1$"), check_password("correct horse", stored)
    (True, True)
    >>> check_password("wrong", stored)
    False
    """
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **SCRYPT)
    return f"scrypt${SCRYPT['n']}${SCRYPT['r']}${SCRYPT['p']}${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches a :func:`hash_password` value (constant-time compare)."""
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        got = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r),
                             p=int(p), dklen=len(digest) // 2)
    except ValueError:
        return False
    return hmac.compare_digest(got.hex(), digest)


def token_hash(token: str) -> str:
    """The SHA-256 (hex) under which a session token is stored."""
    return hashlib.sha256(token.encode()).hexdigest()


def check_name(name: str) -> str:
    """A user name as stored: 1–100 letters, digits or ``. _ - @``."""
    name = (name or "").strip()
    if not name or len(name) > 100 or not set(name) <= NAME_CHARS:
        raise InputError(f"the user name {name[:100]!r} is not valid", field="name",
                         fix="use 1–100 letters, digits or . _ - @")
    return name


def check_role(role: str) -> str:
    """``role`` if it is one of :data:`ROLES`."""
    if role not in ROLES:
        raise InputError(f"there is no role {role!r}", field="role",
                         fix="use viewer, editor or admin")
    return role


def _aware(stamp: datetime) -> datetime:
    """A stored time in UTC (SQLite gives it back without a time zone)."""
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


class Users:
    """Accounts and sessions in a plan store (same database, same backends).

    Parameters
    ----------
    store : Store
        The store whose database holds the ``users`` and ``sessions`` tables.

    Examples
    --------
    >>> users = Users(Store("sqlite:///plans.sqlite"))              # doctest: +SKIP
    >>> users.add("ana", "editor", "a long secret")                  # doctest: +SKIP
    >>> token, expires = users.sign_in("ana", "a long secret", hours=12)  # doctest: +SKIP
    >>> users.session(token)["role"]                                  # doctest: +SKIP
    'editor'
    """

    def __init__(self, store: Store) -> None:
        self.engine, self.write_lock = store.engine, store.write_lock

    def add(self, name: str, role: str, password: str) -> dict:
        """Create an account; :class:`UserExists` if the name is taken."""
        name, role = check_name(name), check_role(role)
        if len(password) < MIN_PASSWORD:
            raise InputError(f"the password is shorter than {MIN_PASSWORD} characters",
                             field="password", fix="choose a longer password")
        row = {"name": name, "role": role, "password": hash_password(password), "created": now()}
        try:
            with self.write_lock, self.engine.begin() as conn:
                conn.execute(insert(s.users).values(**row))
        except IntegrityError:
            raise UserExists(f"there is a user {name!r} already",
                             fix="pick another name, or remove the user first") from None
        log.info("user %s added with role %s", name, role)
        return self.get(name)

    def get(self, name: str) -> dict:
        """Name, role and creation time of an account."""
        with self.engine.connect() as conn:
            row = conn.execute(select(s.users.c.name, s.users.c.role, s.users.c.created)
                               .where(s.users.c.name == name)).mappings().first()
        if row is None:
            raise NotFound(f"no user {name!r}", fix="list users with `gridplan users list`")
        return {"name": row["name"], "role": row["role"], "created": str(row["created"])}

    def list(self) -> list[dict]:
        """Every account (without password hashes), by name."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(s.users.c.name, s.users.c.role, s.users.c.created)
                                .order_by(s.users.c.name)).mappings().all()
        return [{"name": r["name"], "role": r["role"], "created": str(r["created"])}
                for r in rows]

    def set_role(self, name: str, role: str) -> dict:
        """Give an account another role."""
        check_role(role)
        with self.write_lock, self.engine.begin() as conn:
            done = conn.execute(update(s.users).where(s.users.c.name == name).values(role=role))
        if done.rowcount != 1:
            raise NotFound(f"no user {name!r}", fix="list users with `gridplan users list`")
        return self.get(name)

    def remove(self, name: str) -> None:
        """Delete an account and its sessions (its versions keep its name as author)."""
        with self.write_lock, self.engine.begin() as conn:
            conn.execute(delete(s.sessions).where(s.sessions.c.user_name == name))
            done = conn.execute(delete(s.users).where(s.users.c.name == name))
        if done.rowcount != 1:
            raise NotFound(f"no user {name!r}", fix="list users with `gridplan users list`")
        log.info("user %s removed", name)

    def verify(self, name: str, password: str) -> dict | None:
        """The account if ``password`` is its password, else ``None``."""
        with self.engine.connect() as conn:
            row = conn.execute(select(s.users).where(s.users.c.name == name)).mappings().first()
        if row is None:
            check_password(password, hash_password("timing"))  # same cost for unknown names
            return None
        if not check_password(password, row["password"]):
            return None
        return {"name": row["name"], "role": row["role"]}

    def sign_in(self, name: str, password: str, *, hours: float) -> tuple[str, datetime] | None:
        """A new session token and its expiry, or ``None`` when the password is wrong."""
        user = self.verify(name, password)
        if user is None:
            return None
        token = secrets.token_urlsafe(32)
        stamp = now()
        expires = stamp + timedelta(hours=hours)
        with self.write_lock, self.engine.begin() as conn:
            conn.execute(delete(s.sessions).where(s.sessions.c.expires < stamp))
            conn.execute(insert(s.sessions).values(token_hash=token_hash(token),
                                                   user_name=user["name"], created=stamp,
                                                   expires=expires))
        return token, expires

    def session(self, token: str) -> dict | None:
        """The account a live session token belongs to (name, role, expires), or ``None``."""
        q = select(s.users.c.name, s.users.c.role, s.sessions.c.expires).join(
            s.sessions, s.sessions.c.user_name == s.users.c.name).where(
            s.sessions.c.token_hash == token_hash(token))
        with self.engine.connect() as conn:
            row = conn.execute(q).mappings().first()
        if row is None or _aware(row["expires"]) <= now():
            return None
        return {"name": row["name"], "role": row["role"], "expires": _aware(row["expires"])}

    def sign_out(self, token: str) -> bool:
        """End a session; whether there was one."""
        with self.write_lock, self.engine.begin() as conn:
            done = conn.execute(delete(s.sessions).where(
                s.sessions.c.token_hash == token_hash(token)))
        return done.rowcount == 1
