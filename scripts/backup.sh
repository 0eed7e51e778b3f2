#!/usr/bin/env bash
# Back up one instance: the database (pg_dump, custom format) and then the documents directory.
#
#   scripts/backup.sh OUT_DIR
#
# Reads the instance's settings from the environment (the systemd EnvironmentFile): the database from
# MOTCUA_DATABASE_URL (a postgresql+psycopg:// URL; libpq's PG* variables work as well) and, with
# MOTCUA_DOCUMENT_STORE=dir, the documents from MOTCUA_ATTACHMENTS_DIR. The documents are archived
# after the dump, so every document the dump refers to is in the archive (documents are only ever
# added, under their content's hash).
# Writes OUT_DIR/motcua-<UTC time>.dump and OUT_DIR/motcua-<UTC time>-documents.tar.gz.
# With MOTCUA_DOCUMENT_STORE=s3 only the dump is written: the bucket is backed up by the object
# store itself (versioning and replication, docs/deploy.md); a dump restored later is checked against
# the bucket with `motcua check`.
set -euo pipefail

out=${1:?usage: scripts/backup.sh OUT_DIR}
: "${MOTCUA_DATABASE_URL:?set MOTCUA_DATABASE_URL (the database of the instance)}"
store=${MOTCUA_DOCUMENT_STORE:-dir}
if [ "$store" = dir ]; then
    : "${MOTCUA_ATTACHMENTS_DIR:?set MOTCUA_ATTACHMENTS_DIR (the documents of the instance)}"
fi
stamp=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$out"
# pg_dump takes a libpq URL: drop SQLAlchemy's "+psycopg" driver suffix.
pg_dump --format=custom --no-owner --file="$out/motcua-$stamp.dump" "${MOTCUA_DATABASE_URL/+psycopg/}"
echo "$out/motcua-$stamp.dump"
if [ "$store" = dir ]; then
    tar -C "$MOTCUA_ATTACHMENTS_DIR" -czf "$out/motcua-$stamp-documents.tar.gz" .
    echo "$out/motcua-$stamp-documents.tar.gz"
else
    echo "documents: in the object store (MOTCUA_S3_BUCKET=${MOTCUA_S3_BUCKET:-}), not archived here" >&2
fi
