#!/usr/bin/env bash
# Refresh the vendored Leaflet, Leaflet-Geoman and Swagger UI from the versions pinned in maps/package-lock.json.
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
swagger="$vendor/swagger-ui-$(version swagger-ui-dist)"
rm -rf "$vendor"/leaflet-*/ "$vendor"/swagger-ui-*/
mkdir -p "$leaflet/images" "$geoman" "$swagger"
src="$maps/node_modules/leaflet"
cp "$src/LICENSE" "$src/dist/leaflet.js" "$src/dist/leaflet.css" "$leaflet/"
cp "$src"/dist/images/*.png "$leaflet/images/"
src="$maps/node_modules/@geoman-io/leaflet-geoman-free"
cp "$src/LICENSE" "$src/dist/leaflet-geoman.min.js" "$src/dist/leaflet-geoman.css" "$geoman/"
# Swagger UI for /docs (Apache-2.0: its LICENSE and NOTICE go along)
src="$maps/node_modules/swagger-ui-dist"
cp "$src/LICENSE" "$src/NOTICE" "$src/swagger-ui-bundle.js" "$src/swagger-ui.css" \
   "$src/favicon-32x32.png" "$swagger/"
echo "vendored: $(cd "$vendor" && ls -d leaflet-*/ swagger-ui-*/ | tr '\n' ' ')"
