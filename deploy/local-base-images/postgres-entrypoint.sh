#!/bin/sh
# The official postgres image's first start, for the stand-in of deploy/local-base-images.sh:
# a new data folder is initialised with POSTGRES_USER (password POSTGRES_PASSWORD, asked
# of every connection over the network) and the database POSTGRES_DB; then the server runs.
set -eu
mkdir -p "$PGDATA"
chown postgres:postgres "$PGDATA"
chmod 700 "$PGDATA"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    pwfile=$(mktemp)
    printf '%s' "$POSTGRES_PASSWORD" > "$pwfile"
    chown postgres "$pwfile"
    runuser -u postgres -- initdb -D "$PGDATA" -U "$POSTGRES_USER" --pwfile="$pwfile" \
        --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --no-locale
    rm -f "$pwfile"
    echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
    runuser -u postgres -- pg_ctl -D "$PGDATA" -w -o "-c listen_addresses=''" start
    if [ "${POSTGRES_DB:-$POSTGRES_USER}" != postgres ]; then
        runuser -u postgres -- createdb -U "$POSTGRES_USER" "${POSTGRES_DB:-$POSTGRES_USER}"
    fi
    runuser -u postgres -- pg_ctl -D "$PGDATA" -w stop
fi
exec runuser -u postgres -- postgres -D "$PGDATA" -c listen_addresses='*'
