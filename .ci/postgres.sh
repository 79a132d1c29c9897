#!/usr/bin/env bash
# Start a throwaway PostgreSQL server on 127.0.0.1 for the store conformance tests and
# print its SQLAlchemy URL. Installs Debian's postgresql when missing.
set -euo pipefail
PORT=${KYANITE_PG_PORT:-54329}
DIR=${KYANITE_PG_DIR:-/tmp/kyanite-ci-pg}
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql) >&2
fi
BIN=$(dirname "$(ls /usr/lib/postgresql/*/bin/initdb | sort -V | tail -1)")
if [ -f "$DIR/postmaster.pid" ]; then
  su postgres -c "$BIN/pg_ctl -D $DIR stop -m immediate" >&2 || true
fi
rm -rf "$DIR" && mkdir -p "$DIR" && chown postgres "$DIR"
su postgres -c "$BIN/initdb -D $DIR -A trust -U postgres" >/dev/null
su postgres -c "$BIN/pg_ctl -D $DIR -l $DIR/log -o '-p $PORT -k $DIR -c listen_addresses=127.0.0.1' -w start" >&2
su postgres -c "$BIN/createdb -h 127.0.0.1 -p $PORT kyanite_test"
echo "postgresql+psycopg://postgres@127.0.0.1:$PORT/kyanite_test"
