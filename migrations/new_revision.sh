#!/usr/bin/env bash
# Autogenerate the NEXT numbered migration (0002, 0003, ...) from the models, then prove it.
#
#   migrations/new_revision.sh "what changed"        (or: make migration MSG="what changed")
#
# 0001_initial_schema.py is frozen since the first release: databases in the field carry it.
# Every model change from now on comes as a new revision on top of the last one, and a revision
# never drops data a county holds (add columns nullable or with a server default, copy before
# removing; see docs/setup.md, "Migrations").
#
# The script upgrades an empty scratch SQLite database to the current head (so nothing but the
# migrations and the models decides the result), autogenerates the next revision against it,
# then upgrades a second empty database through every revision and runs `db check` (no drift).
set -euo pipefail
cd "$(dirname "$0")/.."

msg=${1:-}
if [ -z "$msg" ]; then
  echo "usage: migrations/new_revision.sh \"what changed\"" >&2
  exit 2
fi

FLASK=${FLASK:-.venv/bin/flask}
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

last=$(ls migrations/versions/[0-9][0-9][0-9][0-9]_*.py | sed 's|.*/\([0-9]\{4\}\)_.*|\1|' | sort | tail -1)
next=$(printf "%04d" $((10#$last + 1)))

export BAOXUE_ENV=development
export UPLOAD_DIR="$scratch/uploads"
DATABASE_URL="sqlite:///$scratch/gen.db" "$FLASK" --app wsgi db upgrade
DATABASE_URL="sqlite:///$scratch/gen.db" "$FLASK" --app wsgi db migrate --rev-id "$next" -m "$msg"

new=$(ls migrations/versions/${next}_*.py 2>/dev/null || true)
if [ -z "$new" ]; then
  echo "no model change: no revision written" >&2
  exit 1
fi

# Every revision in order must build exactly the models' schema.
DATABASE_URL="sqlite:///$scratch/check.db" "$FLASK" --app wsgi db upgrade
DATABASE_URL="sqlite:///$scratch/check.db" "$FLASK" --app wsgi db check
echo "new revision: $new"
echo "Review it: no drop_table/drop_column of data a county holds; run it on PostgreSQL too (docs/setup.md)."
