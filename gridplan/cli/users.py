"""``gridplan users``: add, list, change and remove the web service's user accounts."""

from __future__ import annotations

import logging
import sys

import click

from gridplan.cli.common import fail
from gridplan.errors import GridplanError, InputError

ROLES = ("viewer", "editor", "admin")


def _users(data_dir: str | None):
    """The accounts of the store ``GRIDPLAN_DATABASE_URL`` / ``--data-dir`` names (migrated
    to the latest schema on open, as the service does)."""
    try:
        from gridplan.api.settings import Settings
        from gridplan.api.store import Store
        from gridplan.api.store.users import Users
    except ModuleNotFoundError as exc:
        from gridplan.cli.main import _without_api

        fail(_without_api(exc))
    logging.getLogger("alembic").setLevel(logging.WARNING)
    settings = Settings(**({"data_dir": data_dir} if data_dir else {}))
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return Users(Store(settings.store_url)), settings


data_dir_option = click.option(
    "--data-dir", default=None, type=click.Path(file_okay=False),
    help="The service's data folder (its SQLite store) [default: GRIDPLAN_DATA_DIR or "
         "./gridplan-data]; GRIDPLAN_DATABASE_URL names a PostGIS store instead.")


@click.group("users")
def users_cmd() -> None:
    """User accounts of the web service (roles viewer, editor, admin).

    \b
    Examples:
      gridplan users add ana --role editor        # asks for the password twice
      echo "$PW" | gridplan users add bot --role viewer --password-stdin
      gridplan users list
      gridplan users role ana admin
      gridplan users remove ana
    """


@users_cmd.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), default="editor", show_default=True,
              help="viewer reads; editor also edits; admin also manages users and locks.")
@click.option("--password-stdin", is_flag=True,
              help="Read the password from the first line of standard input (for scripts).")
@data_dir_option
def add_cmd(name: str, role: str, password_stdin: bool, data_dir: str | None) -> None:
    """Add user NAME (the password is asked for, or read with --password-stdin)."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        users, settings = _users(data_dir)
        keys = {item.partition(":")[0].strip() for item in settings.api_keys.split(",")
                if ":" in item}
        if name in keys | {"api", "local"}:
            raise InputError(f"{name!r} is the name of an API key; versions would not tell "
                             "them apart", field="NAME", fix="choose another user name")
        user = users.add(name, role, password)
    except GridplanError as exc:
        fail(exc)
    click.echo(f"user {user['name']} added with role {user['role']}")


@users_cmd.command("list")
@data_dir_option
def list_cmd(data_dir: str | None) -> None:
    """List users: name, role, created."""
    users, _ = _users(data_dir)
    for u in users.list():
        click.echo(f"{u['name']}\t{u['role']}\t{u['created']}")


@users_cmd.command("role")
@click.argument("name")
@click.argument("role", type=click.Choice(ROLES))
@data_dir_option
def role_cmd(name: str, role: str, data_dir: str | None) -> None:
    """Give user NAME another ROLE."""
    try:
        users, _ = _users(data_dir)
        user = users.set_role(name, role)
    except GridplanError as exc:
        fail(exc)
    click.echo(f"user {user['name']} now has role {user['role']}")


@users_cmd.command("remove")
@click.argument("name")
@data_dir_option
def remove_cmd(name: str, data_dir: str | None) -> None:
    """Remove user NAME and end its sessions (its edits keep its name as author)."""
    try:
        users, _ = _users(data_dir)
        users.remove(name)
    except GridplanError as exc:
        fail(exc)
    click.echo(f"user {name} removed")
