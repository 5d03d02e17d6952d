#!/usr/bin/env bash
# CI: the lowest supported versions. Installs gridplan (core + [api]) with every direct
# dependency at its floor in pyproject.toml, on the python3 found here, and runs a fast subset
# of the tests, so a floor that is too low fails here rather than on a user's machine.
#
#   bash .ci/lowest.sh            # venv in .venv-lowest (LOWEST_VENV=DIR to change)
#
# With uv (from PyPI) the floors come from `uv pip install --resolution lowest-direct`; without
# it, from a constraints file that pins each `name>=X` of pyproject.toml to `name==X.*` (the
# floor's newest patch release).
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${LOWEST_VENV:-.venv-lowest}
start=$SECONDS
rm -rf "$venv"
python3 -m venv "$venv"
py="$venv/bin/python"
# the test tools at their floors too (the [test] extra's pytest, pytest-xdist and hypothesis)
want=(-e ".[api]" "pytest>=8" "pytest-xdist>=3.5" "hypothesis>=6.100")
if "$py" -m pip install --quiet uv; then
  "$venv/bin/uv" pip install --python "$py" --quiet --resolution lowest-direct "${want[@]}"
else
  floors="$venv/floors.txt"
  "$py" - "$floors" <<'EOF'
import re, sys, tomllib
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
reqs = project["dependencies"] + project["optional-dependencies"]["api"] + [
    "pytest>=8", "pytest-xdist>=3.5", "hypothesis>=6.100"]
pins = [f"{m[1]}=={m[2]}.*" for r in reqs if (m := re.match(r"([\w.-]+)(?:\[.*\])?>=([\w.]+)$", r))]
open(sys.argv[1], "w").write("\n".join(pins) + "\n")
EOF
  "$py" -m pip install --quiet -c "$floors" "${want[@]}"
fi
"$py" -m pip list --format=freeze 2>/dev/null \
  | grep -iE '^(geopandas|shapely|pyogrio|pyproj|pandas|numpy|scipy|networkx|osmnx|folium|click|numba|pyarrow|fastapi|pydantic-settings|sqlalchemy|alembic)==' \
  | tr '\n' ' '
echo
echo "lowest: installed in $((SECONDS - start)) s"
"$py" -m pytest -q -x -p no:cacheprovider tests/engine tests/layers tests/test_codes.py tests/cli
echo "lowest: done in $((SECONDS - start)) s"
