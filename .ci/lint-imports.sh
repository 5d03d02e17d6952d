#!/usr/bin/env bash
# Check the import-layers contract (pyproject.toml [tool.importlinter]) on the installed package:
# api/ and maps/ are gridplan.api and gridplan.maps only once installed (setuptools package-dir),
# so the package is installed into a scratch folder and import-linter reads it there.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
python -m pip install --quiet --no-deps --target "$TMP/site" "$ROOT" 2>/dev/null
cd "$TMP" && PYTHONPATH="$TMP/site" lint-imports "$ROOT/pyproject.toml"
