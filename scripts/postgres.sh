#!/usr/bin/env bash
# Installs (Debian's postgresql) and starts a local PostgreSQL on 127.0.0.1:5432
# with user postgres / password postgres, for the test suite. Idempotent; see
# ../shared/MACHINE.md. Prints the URL the tests use.
set -euo pipefail
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
  as_root apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql
fi
PGVER=$(ls /usr/lib/postgresql | sort -V | tail -n1)
as_root pg_lsclusters -h | grep -q "^$PGVER main " || as_root pg_createcluster "$PGVER" main >/dev/null
as_root pg_ctlcluster "$PGVER" main status >/dev/null 2>&1 || as_root pg_ctlcluster "$PGVER" main start
for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
pg_isready -q -h 127.0.0.1 -p 5432 || { echo "PostgreSQL did not start" >&2; exit 1; }
as_root runuser -u postgres -- psql -q -c "ALTER USER postgres PASSWORD 'postgres'" >/dev/null
echo "postgres://postgres:postgres@127.0.0.1:5432"
