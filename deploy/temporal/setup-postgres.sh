#!/bin/sh
# Creates Temporal's two databases in temporal-postgres and brings their
# schema to the version of the server image (a one-shot job: run again on
# an upgrade, update-schema applies what is new).
set -eu
tool() { temporal-sql-tool --plugin postgres12 --ep temporal-postgres -p 5432 -u temporal --db "$@"; }
for db in temporal temporal_visibility; do
  dir=temporal
  [ "$db" = temporal_visibility ] && dir=visibility
  tool "$db" create-database || true   # exists after the first run
  if ! tool "$db" setup-schema -v 0.0 2>/dev/null; then
    echo "$db: schema already set up"
  fi
  tool "$db" update-schema -d "/etc/temporal/schema/postgresql/v12/$dir/versioned"
done
echo "Temporal schema is current"
