#!/usr/bin/env bash
# Restore drill: a backup restored into a NEW database and a new documents directory, then checked.
#
#   scripts/restore_drill.sh DUMP DOCUMENTS_ARCHIVE [--keep]
#
# DUMP and DOCUMENTS_ARCHIVE are what scripts/backup.sh wrote (DOCUMENTS_ARCHIVE "-" with
# MOTCUA_DOCUMENT_STORE=s3: the documents are checked in the bucket). The database is created on the server
# libpq's variables name (PGHOST, PGPORT, PGUSER, PGPASSWORD; the user needs CREATEDB) as
# motcua_restore_<UTC time>; the live database and documents are never touched. Then, on the restored
# copy: `motcua db upgrade` (a no-op when the backup is of the running release), `motcua check` (every
# dossier's workflow, work items and events agree, every document is there with its sha256) and the
# counts of dossiers and documents.
# Exits non-zero when any step fails. Without --keep the database and directory are removed after.
# Other MOTCUA_* settings (calendar, office hours) come from the environment as in the instance.
set -euo pipefail

dump=${1:?usage: scripts/restore_drill.sh DUMP DOCUMENTS_ARCHIVE [--keep]}
archive=${2:?usage: scripts/restore_drill.sh DUMP DOCUMENTS_ARCHIVE [--keep]}
keep=${3:-}
motcua=${MOTCUA_BIN:-motcua}
name=motcua_restore_$(date -u +%Y%m%d%H%M%S)
work=$(mktemp -d)

cleanup() {
    if [ "$keep" != "--keep" ]; then
        dropdb --if-exists "$name" || true
        rm -rf "$work"
    else
        echo "kept: database $name, documents $work/documents"
    fi
}
trap cleanup EXIT

createdb "$name"
pg_restore --no-owner --no-privileges --exit-on-error --dbname="$name" "$dump"
mkdir -p "$work/documents"
if [ "$archive" = - ]; then
    # MOTCUA_DOCUMENT_STORE=s3: no archive; the restored rows are checked against the bucket (read only).
    : "${MOTCUA_S3_BUCKET:?an archive, or MOTCUA_DOCUMENT_STORE=s3 and MOTCUA_S3_BUCKET}"
else
    tar -C "$work/documents" -xzf "$archive"
    export MOTCUA_DOCUMENT_STORE=dir
fi

export MOTCUA_DATABASE_URL="postgresql+psycopg:///$name"  # host, user and password from PG* variables
export MOTCUA_ATTACHMENTS_DIR="$work/documents"
export MOTCUA_SCHEDULER=off
"$motcua" db upgrade
"$motcua" check
dossiers=$(psql -At -d "$name" -c "select count(*) from dossier")
attachments=$(psql -At -d "$name" -c "select count(*) from attachment")
files=$(find "$work/documents" -type f | wc -l)
echo "restore drill: database $name, $dossiers dossiers, $attachments attachments, $files document files: ok"
