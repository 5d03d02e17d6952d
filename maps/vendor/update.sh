#!/usr/bin/env bash
# Refresh the vendored Leaflet and Leaflet-Geoman from the versions pinned in maps/package-lock.json.
#
#   bash maps/vendor/update.sh      # runs `npm ci` in maps/, then copies the files below
#
# Only the files the coverage maps and the editor load are copied, unchanged (byte for byte the
# npm dist files, source maps left out), each library into a folder named after its pinned
# version, with its LICENSE. After a version change, update the folder names in maps/assets.py
# (VENDORED); tests/test_packaging.py checks that they match the lock file.
set -euo pipefail
maps="$(cd "$(dirname "$0")/.." && pwd)"
vendor="$maps/vendor"
(cd "$maps" && npm ci --no-audit --no-fund --loglevel=error)
version() {  # version of an installed package, as resolved by the lock file
  node -p "require('$maps/node_modules/$1/package.json').version"
}
leaflet="$vendor/leaflet-$(version leaflet)"
geoman="$vendor/leaflet-geoman-$(version @geoman-io/leaflet-geoman-free)"
rm -rf "$vendor"/leaflet-*/
mkdir -p "$leaflet/images" "$geoman"
src="$maps/node_modules/leaflet"
cp "$src/LICENSE" "$src/dist/leaflet.js" "$src/dist/leaflet.css" "$leaflet/"
cp "$src"/dist/images/*.png "$leaflet/images/"
src="$maps/node_modules/@geoman-io/leaflet-geoman-free"
cp "$src/LICENSE" "$src/dist/leaflet-geoman.min.js" "$src/dist/leaflet-geoman.css" "$geoman/"
echo "vendored: $(cd "$vendor" && ls -d leaflet-*/ | tr '\n' ' ')"
