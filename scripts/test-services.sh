#!/usr/bin/env bash
# test-services.sh makes PostgreSQL available for the tests on a Debian
# machine, installing and starting it when needed, and prints the
# OMNISERVE_TEST_POSTGRES_URL to test against:
#
#   eval "$(scripts/test-services.sh)"
#   go test -race ./internal/store/sqlstore
#
# Progress goes to stderr; stdout is only the export line. It is safe to
# run again: every step checks first. Installing needs root (or sudo).
#
# Environment: PGTEST_HOST (127.0.0.1), PGTEST_PORT (5432), PGTEST_DB
# (test) and PGTEST_CLUSTER (main, the Debian cluster to start) choose the
# server and database.
set -euo pipefail

host="${PGTEST_HOST:-127.0.0.1}"
port="${PGTEST_PORT:-5432}"
db="${PGTEST_DB:-test}"
cluster="${PGTEST_CLUSTER:-main}"

log() { echo "test-services: $*" >&2; }

# as_root runs a command as root, through sudo when not root already.
as_root() {
	if [ "$(id -u)" -eq 0 ]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo "$@"
	else
		log "need root to run: $*"
		exit 1
	fi
}

# as_postgres runs a command as the postgres system user.
as_postgres() {
	if [ "$(id -un)" = postgres ]; then
		"$@"
	else
		as_root su postgres -s /bin/sh -c "$(printf '%q ' "$@")"
	fi
}

ready() { command -v pg_isready >/dev/null 2>&1 && pg_isready -q -h "$host" -p "$port"; }

# cluster_version prints the newest installed PostgreSQL cluster version.
cluster_version() { ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1; }

if ! ready; then
	if [ -z "$(cluster_version)" ] || ! command -v pg_ctlcluster >/dev/null 2>&1; then
		log "installing PostgreSQL"
		as_root apt-get update
		as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql
	fi
	version="$(cluster_version)"
	if [ -z "$version" ]; then
		log "no PostgreSQL cluster under /etc/postgresql"
		exit 1
	fi
	log "starting PostgreSQL $version cluster $cluster"
	# A cluster already running (on another address) is not an error.
	as_root pg_ctlcluster --skip-systemctl-redirect "$version" "$cluster" start || true
	for _ in $(seq 1 60); do
		ready && break
		sleep 0.5
	done
	if ! ready; then
		log "PostgreSQL is not accepting connections on $host:$port"
		exit 1
	fi
fi
log "PostgreSQL is accepting connections on $host:$port"

# The tests connect over TCP without a password, as user postgres. A
# fresh Debian install asks TCP clients for one, so trust loopback
# connections: a test machine's database, never a production one.
if ! psql -w -h "$host" -p "$port" -U postgres -d postgres -Atc 'SELECT 1' >/dev/null 2>&1; then
	hba="$(as_postgres psql -p "$port" -Atc 'SHOW hba_file')"
	log "trusting loopback connections in $hba"
	as_root sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
	as_postgres psql -p "$port" -qAtc 'SELECT pg_reload_conf()' >/dev/null
	if ! psql -w -h "$host" -p "$port" -U postgres -d postgres -Atc 'SELECT 1' >/dev/null 2>&1; then
		log "cannot connect to $host:$port as postgres without a password"
		exit 1
	fi
fi

# Roles and databases are made as the postgres system user over the local
# socket, which Debian's peer authentication admits.
if [ "$(as_postgres psql -p "$port" -qAtc "SELECT 1 FROM pg_roles WHERE rolname = 'root'")" != 1 ]; then
	log "creating role root"
	as_postgres createuser -p "$port" --superuser root
fi
if [ "$(as_postgres psql -p "$port" -qAtc "SELECT 1 FROM pg_database WHERE datname = '$db'")" != 1 ]; then
	log "creating database $db"
	as_postgres createdb -p "$port" "$db"
fi

echo "export OMNISERVE_TEST_POSTGRES_URL='postgres://postgres@$host:$port/$db?sslmode=disable'"
