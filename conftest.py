"""Doctests of ``api/`` and ``maps/`` run on ``gridplan.api`` and ``gridplan.maps``.

Those folders are installed under other names (``[tool.setuptools.package-dir]`` in
pyproject.toml). Collected by path, pytest would import them a second time as
top-level ``api`` and ``maps`` modules; here their doctest collectors import the
modules by their installed names instead, so each doctest runs on the module the
application uses.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from _pytest.doctest import DoctestModule

ROOT = Path(__file__).resolve().parent
PACKAGE_DIRS = {"api": "gridplan.api", "maps": "gridplan.maps"}  # folder: import name

collect_ignore = ["api/migrations"]  # alembic scripts: importable only inside alembic


def installed_name(path: Path) -> str | None:
    """Import name of a module file under a renamed folder (``None`` elsewhere).

    >>> installed_name(ROOT / "api" / "routes" / "editor.py")
    'gridplan.api.routes.editor'
    >>> installed_name(ROOT / "maps" / "__init__.py")
    'gridplan.maps'
    >>> installed_name(ROOT / "gridplan" / "codes.py") is None
    True
    """
    try:
        parts = path.resolve().relative_to(ROOT).with_suffix("").parts
    except ValueError:
        return None
    if len(parts) < 2 or parts[0] not in PACKAGE_DIRS:
        return None
    names = [PACKAGE_DIRS[parts[0]], *parts[1:]]
    return ".".join(names[:-1] if names[-1] == "__init__" else names)


class InstalledDoctestModule(DoctestModule):
    """Doctests of a module imported by its installed name."""

    def _getobj(self):
        return importlib.import_module(installed_name(self.path))


@pytest.hookimpl(wrapper=True)
def pytest_collect_file(file_path: Path, parent: pytest.Collector):
    collectors = yield
    if installed_name(file_path) is None:
        return collectors
    return [InstalledDoctestModule.from_parent(parent, path=file_path)
            if type(c) is DoctestModule else c for c in collectors]
