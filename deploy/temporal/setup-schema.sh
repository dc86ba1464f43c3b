#!/bin/sh
# Temporal's two databases in PostgreSQL, created or brought up to the schema this admin-tools
# image ships (the job in docker-compose.yml, before temporalio/server starts; the maintained
# shape of temporalio/samples-server's compose/scripts/setup-postgres.sh).
#
# Safe on every `docker compose up`: `create` accepts an existing database, `setup-schema -v 0.0`
# only creates the version tables when missing and never lowers a recorded version, and
# `update-schema` applies just the versioned steps newer than the recorded one (an image upgrade
# upgrades the schema here, before the new server reads it).
set -eu

: "${POSTGRES_SEEDS:?set POSTGRES_SEEDS (the PostgreSQL host)}"
: "${POSTGRES_USER:?set POSTGRES_USER}"
: "${SQL_PASSWORD:?set SQL_PASSWORD (read by temporal-sql-tool)}"
port="${DB_PORT:-5432}"
schemas=/etc/temporal/schema/postgresql/v12

echo "Waiting for PostgreSQL at ${POSTGRES_SEEDS}:${port}..."
tries=0
until nc -z -w 5 "$POSTGRES_SEEDS" "$port"; do
  tries=$((tries + 1))
  if [ "$tries" -ge 60 ]; then
    echo "PostgreSQL not reachable after 2 minutes" >&2
    exit 1
  fi
  sleep 2
done

# database name -> schema folder
for pair in temporal:temporal temporal_visibility:visibility; do
  db=${pair%%:*}
  folder=${pair#*:}
  echo "Schema of ${db}..."
  temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -u "$POSTGRES_USER" -p "$port" --db "$db" create
  temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -u "$POSTGRES_USER" -p "$port" --db "$db" setup-schema -v 0.0
  temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -u "$POSTGRES_USER" -p "$port" --db "$db" update-schema -d "${schemas}/${folder}/versioned"
done
echo "Temporal schemas ready"
