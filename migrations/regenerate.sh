#!/usr/bin/env bash
# Regenerate the single initial migration from the current models (models/*.py).
#
# Until the first release the project keeps ONE migration, rebuilt whenever a model changes:
#   migrations/regenerate.sh
# It deletes migrations/versions/*.py, autogenerates "initial schema" against an empty scratch
# SQLite database (so nothing but the models decides the result), then checks that upgrading a
# second empty database leaves no drift (`db check`). Existing databases built from an older
# initial migration must be rebuilt (delete instance/baoxue.db, or drop and recreate PostgreSQL).
set -euo pipefail
cd "$(dirname "$0")/.."

FLASK=.venv/bin/flask
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

rm -f migrations/versions/*.py
rm -rf migrations/versions/__pycache__

export BAOXUE_ENV=development
export UPLOAD_DIR="$scratch/uploads"
DATABASE_URL="sqlite:///$scratch/gen.db" "$FLASK" --app wsgi db migrate --rev-id 0001 -m "initial schema"

# The new migration must build exactly the models' schema.
DATABASE_URL="sqlite:///$scratch/check.db" "$FLASK" --app wsgi db upgrade
DATABASE_URL="sqlite:///$scratch/check.db" "$FLASK" --app wsgi db check
echo "migrations/versions/ now holds:"
ls migrations/versions/*.py
