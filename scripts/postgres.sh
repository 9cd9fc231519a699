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
# After an unclean stop (a machine reset mid-run), PostgreSQL's default crash
# recovery fsyncs every file of every database, one by one: with many test
# databases that took over a minute here and pg_ctl gave up. syncfs(2) flushes
# the whole file system in one call and is as safe.
CONF_D=/etc/postgresql/$PGVER/main/conf.d
if [ -d "$CONF_D" ] && [ ! -f "$CONF_D/switchyard-tests.conf" ]; then
  printf '%s\n' "# written by switchyard's scripts/postgres.sh" "recovery_init_sync_method = syncfs" \
    | as_root tee "$CONF_D/switchyard-tests.conf" >/dev/null
fi
# `-t`: crash recovery may still take a while; wait for it rather than fail.
as_root pg_ctlcluster "$PGVER" main status >/dev/null 2>&1 || as_root pg_ctlcluster "$PGVER" main start -- -t 300
for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
pg_isready -q -h 127.0.0.1 -p 5432 || { echo "PostgreSQL did not start" >&2; exit 1; }
as_root runuser -u postgres -- psql -q -c "ALTER USER postgres PASSWORD 'postgres'" >/dev/null
# Each API test creates its own database (sy_test_*); drop those of earlier
# runs so the cluster does not grow without bound from run to run.
as_root runuser -u postgres -- psql -qAt -c "SELECT datname FROM pg_database WHERE datname LIKE 'sy\_test\_%'" \
  | while read -r db; do as_root runuser -u postgres -- dropdb --if-exists --force "$db"; done
echo "postgres://postgres:postgres@127.0.0.1:5432"
