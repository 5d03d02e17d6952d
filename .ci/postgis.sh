#!/usr/bin/env bash
# Start a throwaway PostgreSQL + PostGIS server for the test suite and print its URL.
# Installs Debian's postgresql-15-postgis-3 when missing. Usage: eval "$(.ci/postgis.sh)"
set -euo pipefail
PORT="${GRIDPLAN_PG_PORT:-54329}"
PGBIN=/usr/lib/postgresql/15/bin
if [ ! -x "$PGBIN/postgres" ] || [ ! -f /usr/share/postgresql/15/extension/postgis.control ]; then
  if [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      postgresql-15 postgresql-15-postgis-3) >&2 || { echo "# PostGIS could not be installed" >&2; exit 0; }
  else
    echo "# PostGIS missing and not root: PostGIS tests will skip" >&2; exit 0
  fi
fi
DATA="${TMPDIR:-/tmp}/gridplan-pg-$PORT"
RUNAS=()
if [ "$(id -u)" = 0 ]; then RUNAS=(runuser -u postgres --); fi
if ! "${RUNAS[@]}" "$PGBIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
  rm -rf "$DATA"; mkdir -p "$DATA"
  [ "$(id -u)" = 0 ] && chown postgres "$DATA"
  "${RUNAS[@]}" "$PGBIN/initdb" -D "$DATA" -A trust -U postgres >/dev/null
  "${RUNAS[@]}" "$PGBIN/pg_ctl" -D "$DATA" -o "-p $PORT -k $DATA -c listen_addresses=127.0.0.1 -c fsync=off" \
    -l "$DATA/log" -w start >/dev/null
fi
"$PGBIN/psql" -h 127.0.0.1 -p "$PORT" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='gridplan_test'" \
  | grep -q 1 || "$PGBIN/psql" -h 127.0.0.1 -p "$PORT" -U postgres -qc "CREATE DATABASE gridplan_test" >&2
echo "export GRIDPLAN_TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:$PORT/gridplan_test"
