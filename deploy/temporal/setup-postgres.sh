#!/bin/sh
# One-shot schema setup for Temporal on PostgreSQL, as temporalio/samples-server compose/ does it:
# temporal-sql-tool (from temporalio/admin-tools) creates both databases and brings their schemas
# to the version this admin-tools image ships. Safe to run again: create and setup-schema skip what
# exists, update-schema applies only newer versions.
set -eu
: "${POSTGRES_SEEDS:?POSTGRES_SEEDS is required}"
: "${POSTGRES_USER:?POSTGRES_USER is required}"
: "${SQL_PASSWORD:?SQL_PASSWORD is required}"
PORT="${DB_PORT:-5432}"
SCHEMA=/etc/temporal/schema/postgresql/v12

echo "waiting for PostgreSQL at ${POSTGRES_SEEDS}:${PORT}"
i=0
until nc -z -w 5 "$POSTGRES_SEEDS" "$PORT"; do
  i=$((i + 1))
  [ "$i" -lt 60 ] || { echo "PostgreSQL did not open its port"; exit 1; }
  sleep 2
done

for db in temporal temporal_visibility; do
  dir=temporal
  [ "$db" = temporal_visibility ] && dir=visibility
  tool="temporal-sql-tool --plugin postgres12 --ep $POSTGRES_SEEDS -u $POSTGRES_USER -p $PORT --db $db"
  $tool create
  $tool setup-schema -v 0.0
  $tool update-schema -d "$SCHEMA/$dir/versioned"
done
echo "PostgreSQL schema setup complete"
