# Two commands on a fresh machine: `make run` and `make test`.
# Production: `make install-prod` (runtime packages only, compiled translations; docs/setup.md).
PY ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PROD_STAMP := $(VENV)/.installed-prod
PORT ?= 5000
PIP_FLAGS ?=

.PHONY: install install-prod run test lint lock migration translations translations-update clean bench-data bench

# Both requirement files are locked with hashes (`make lock` regenerates them from the .in files).
$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q $(PIP_FLAGS) --require-hashes -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

# Runtime packages only (no test tools, no Faker), then the compiled catalogues (English).
$(PROD_STAMP): requirements.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q $(PIP_FLAGS) --require-hashes -r requirements.txt
	touch $(PROD_STAMP)

install-prod: $(PROD_STAMP)
	$(BIN)/pybabel -q compile -d admin/translations -f

# Re-lock requirements.txt and requirements-dev.txt after editing requirements*.in.
lock: $(STAMP)
	$(BIN)/pip install -q pip-tools
	$(BIN)/pip-compile -q --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url \
	  --no-emit-find-links -o requirements.txt requirements.in
	$(BIN)/pip-compile -q --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url \
	  --no-emit-find-links -o requirements-dev.txt requirements-dev.in

# The next numbered migration (0002, 0003, ...) from the models, then `db check` (docs/setup.md).
migration: $(STAMP)
	migrations/new_revision.sh "$(MSG)"

translations: $(STAMP)
	$(BIN)/pybabel -q compile -d admin/translations -f

# Re-extract the Chinese msgids and merge them into the English catalogue (then translate the
# new entries in admin/translations/en/LC_MESSAGES/messages.po).
translations-update: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext -k NP_:1c,2 -o admin/translations/messages.pot .
	$(BIN)/pybabel update -i admin/translations/messages.pot -d admin/translations -l en --no-fuzzy-matching --ignore-obsolete

run: install translations
	BAOXUE_ENV=development $(BIN)/flask --app wsgi db upgrade
	BAOXUE_ENV=development $(BIN)/flask --app wsgi demo-data --if-empty
	BAOXUE_ENV=development $(BIN)/flask --app wsgi run --host 127.0.0.1 --port $(PORT)

test: install translations
	$(BIN)/pytest $(PYTEST_ARGS)

# Benchmarks (docs/performance.md). SCALE=township|county; both databases (SQLite file under
# bench/data/, PostgreSQL database bench / bench_small at $(BENCH_PG_URL), created if missing).
# bench-data generates only what is missing or out of date (FORCE=1 regenerates).
SCALE ?= county
BENCH_PG_URL ?= postgresql+psycopg://root@127.0.0.1:5432
export BENCH_PG_URL

bench-data: install
	$(BIN)/python -m bench.generate --scale $(SCALE) $(if $(FORCE),,--if-missing)

bench: bench-data
	$(BIN)/python -m bench.run --scale $(SCALE)

lint: install
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) instance/baoxue.db
