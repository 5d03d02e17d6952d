"""Packaging: what the wheel ships, and that an installed wheel serves the editor, the start page
and /docs and writes an offline demo map without the checkout (no maps/node_modules, no data/
folder)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import pytest
from gridplan.maps.assets import (
    DOCS_LIBRARIES,
    EDITOR_FILES,
    LEAFLET_IMAGES,
    LIBRARIES,
    START_FILES,
    VENDORED,
)

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
# source folder of each top-level import package ([tool.setuptools.package-dir])
FOLDERS = {"gridplan": ROOT / "gridplan",
           **{k: ROOT / v for k, v in PYPROJECT["tool"]["setuptools"]["package-dir"].items()}}
# the api extra's modules, hidden to show that plan and demo do without them
API_MODULES = ("fastapi", "starlette", "uvicorn", "multipart", "python_multipart",
               "pydantic_settings", "sqlalchemy", "geoalchemy2", "alembic", "psycopg")
EXTERNAL = re.compile(r"<(?:script|link)\b[^>]*?(?:src|href)\s*=\s*[\"']?(https?:)?//", re.I)
SKIP_COPY = shutil.ignore_patterns(".git", ".venv*", "node_modules", "build", "dist", "out",
                                   "*.egg-info", "__pycache__", ".*_cache", ".hypothesis", "tests",
                                   "bench")


def package_folders() -> set[str]:
    """Import names of every folder holding an ``__init__.py`` (the packages that must ship)."""
    names = set()
    for top, folder in FOLDERS.items():
        for init in folder.rglob("__init__.py"):
            if "node_modules" not in init.parts:
                rel = init.parent.relative_to(folder).parts
                names.add(".".join((top, *rel)))
    return names


def test_packages_list_is_every_folder_with_init():
    assert set(PYPROJECT["tool"]["setuptools"]["packages"]) == package_folders()


def test_vendored_libraries_are_the_locked_versions():
    lock = json.loads((ROOT / "maps" / "package-lock.json").read_text(encoding="utf-8"))
    for npm_name, folder in VENDORED.items():
        version = lock["packages"][f"node_modules/{npm_name}"]["version"]
        assert folder.endswith(f"-{version}"), (npm_name, version, folder)
        assert (ROOT / "maps" / "vendor" / folder / "LICENSE").is_file()


def test_vendored_files_equal_the_npm_dist_files():
    modules = ROOT / "maps" / "node_modules"
    if not modules.is_dir():
        pytest.skip("maps/node_modules absent (npm ci --prefix maps): nothing to compare")
    dist = {"leaflet.js": "leaflet/dist/leaflet.js", "leaflet.css": "leaflet/dist/leaflet.css",
            "leaflet-geoman.js": "@geoman-io/leaflet-geoman-free/dist/leaflet-geoman.min.js",
            "leaflet-geoman.css": "@geoman-io/leaflet-geoman-free/dist/leaflet-geoman.css"}
    for name, rel in dist.items():
        vendored = ROOT / "maps" / "vendor" / LIBRARIES[name]
        assert vendored.read_bytes() == (modules / rel).read_bytes(), name
    for name, rel in DOCS_LIBRARIES.items():  # Swagger UI: the package root is its dist
        vendored = ROOT / "maps" / "vendor" / rel
        assert vendored.read_bytes() == (modules / "swagger-ui-dist" / name).read_bytes(), name


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel, built from a clean copy of the sources (no stale build/ folder)."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    shutil.copytree(ROOT, src, ignore=SKIP_COPY)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w",
                    str(tmp), str(src)], check=True, cwd=tmp)
    return next(tmp.glob("gridplan-*.whl"))


@pytest.mark.slow
def test_wheel_ships_the_editor_libraries_and_migrations(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    dist_info = next(n.split("/")[0] for n in names if ".dist-info/" in n)
    assert {n.split("/")[0] for n in names} == {"gridplan", dist_info}  # no top-level api, maps
    maps, api = "gridplan/maps/", "gridplan/api/"
    vendor = maps + "vendor/"
    want = {"gridplan/py.typed", "gridplan/__main__.py", api + "migrations/env.py",
            api + "migrations/script.py.mako", vendor + "README.md",
            *(maps + "editor/" + f for f in EDITOR_FILES),
            *(maps + "start/" + f for f in START_FILES),
            *(vendor + rel for rel in LIBRARIES.values()),
            *(vendor + rel for rel in DOCS_LIBRARIES.values()),
            *(f"{vendor}{folder}/LICENSE" for folder in VENDORED.values()),
            f"{vendor}{VENDORED['swagger-ui-dist']}/NOTICE",
            *(f"{vendor}{LEAFLET_IMAGES}/{p.name}"
              for p in (ROOT / "maps" / "vendor" / LEAFLET_IMAGES).glob("*.png")),
            *(f"{api}migrations/versions/{p.name}"
              for p in (ROOT / "api" / "migrations" / "versions").glob("*.py"))}
    assert want <= names, sorted(want - names)
    shipped = {n.rsplit("/", 1)[0].replace("/", ".") for n in names if n.endswith("__init__.py")}
    assert shipped == package_folders()
    assert f"{dist_info}/licenses/LICENSE" in names
    assert f"{dist_info}/licenses/maps/vendor/{VENDORED['swagger-ui-dist']}/NOTICE" in names
    assert not [n for n in names if "node_modules" in n or n.endswith("update.sh")]


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory) -> Path:
    """A fresh venv with the wheel installed; its dependencies are the running environment's,
    seen through a ``.pth`` file (not installed again), so the checkout is never on the path."""
    root = tmp_path_factory.mktemp("venv") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    py = root / "bin" / "python"
    site = Path(subprocess.run([py, "-c", "import sysconfig; print(sysconfig.get_paths()"
                                "['purelib'])"], check=True, capture_output=True,
                               text=True).stdout.strip())
    paths = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (site / "deps.pth").write_text("\n".join(sorted(paths)) + "\n", encoding="utf-8")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--quiet",
                    "--no-deps", "--no-compile", str(wheel)], check=True)
    return root


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    """HOME of the installed runs: no data/ folder beside an installed package, so the demo
    district is generated into ~/.cache/gridplan, here and not in the real home."""
    return tmp_path_factory.mktemp("home")


def run_in(venv: Path, code: str, *args: str, cwd: Path,
           home: Path) -> subprocess.CompletedProcess:
    """Run Python code in the installed venv, outside the checkout (cwd is never the repo)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["HOME"] = str(home)
    return subprocess.run([venv / "bin" / "python", "-c", code, *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_installed_wheel_is_not_the_checkout(venv, home, tmp_path):
    out = run_in(venv, "import gridplan, gridplan.maps as m; print(gridplan.__file__, "
                 "m.__file__)", cwd=tmp_path, home=home)
    assert out.returncode == 0, out.stderr
    assert all(p.startswith(str(venv)) for p in out.stdout.split()), out.stdout


SERVE_EDITOR = """
import sys
from fastapi.testclient import TestClient
from gridplan.api.app import create_app
from gridplan.api.demo import ensure_demo
from gridplan.api.settings import Settings

app = create_app(Settings(data_dir=sys.argv[1]))
ensure_demo(app.state.store)
with TestClient(app) as client:
    page = client.get("/plans/demo/editor")
    assert page.status_code == 200, page.text
    for src in __import__("re").findall(r'(?:src|href)="(/static/[^"]+)"', page.text):
        assert client.get(src).status_code == 200, src
    assert client.get("/static/lib/images/layers.png").status_code == 200
    assert client.get("/plans/demo/map").status_code == 200
    start = client.get("/", headers={"Accept": "text/html"})
    assert start.status_code == 200 and "text/html" in start.headers["content-type"]
    docs = client.get("/docs")
    assert docs.status_code == 200
    for page in (start, docs):
        for src in __import__("re").findall(r'(?:src|href)="(/static/[^"]+)"', page.text):
            assert client.get(src).status_code == 200, src
    assert client.get("/static/start/words.js").status_code == 200
print("served")
"""


@pytest.mark.slow
def test_installed_wheel_serves_the_editor(venv, home, tmp_path):
    out = run_in(venv, SERVE_EDITOR, str(tmp_path / "data"), cwd=tmp_path, home=home)
    assert out.returncode == 0 and "served" in out.stdout, out.stderr[-3000:]


WITHOUT_API = """
import sys

BLOCKED = set(sys.argv[1].split(","))

class NoWebStack:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)

sys.meta_path.insert(0, NoWebStack())
from gridplan.cli.main import main
main(sys.argv[2:], prog_name="gridplan")
"""


@pytest.mark.slow
def test_installed_wheel_plans_the_demo_offline_without_the_api_extra(venv, home, tmp_path):
    out = run_in(venv, WITHOUT_API, ",".join(API_MODULES), "demo", "--out",
                 str(tmp_path / "demo"), "--quiet", cwd=tmp_path, home=home)
    assert out.returncode == 0, out.stderr[-3000:]
    page = (tmp_path / "demo" / "map.html").read_text(encoding="utf-8")
    assert "L.map(" in page and not EXTERNAL.search(page)
    assert not re.findall(r"<(?:script|link)\b[^>]*(?:src|href)=[\"']?https?:", page, re.I)
    serve = run_in(venv, WITHOUT_API, ",".join(API_MODULES), "serve", cwd=tmp_path, home=home)
    assert serve.returncode == 2, serve.stderr
    assert "gridplan[api]" in serve.stderr and "Fix:" in serve.stderr
