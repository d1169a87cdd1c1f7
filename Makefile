# Two commands on a fresh machine: `make run` and `make test`.
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test lint translations translations-update clean bench-data bench

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

translations: $(STAMP)
	$(BIN)/pybabel -q compile -d admin/translations -f

# Re-extract the Chinese msgids and merge them into the English catalogue (then translate the
# new entries in admin/translations/en/LC_MESSAGES/messages.po).
translations-update: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext -o admin/translations/messages.pot .
	$(BIN)/pybabel update -i admin/translations/messages.pot -d admin/translations -l en --no-fuzzy-matching --ignore-obsolete

run: install translations
	BAOXUE_ENV=development $(BIN)/flask --app wsgi db upgrade
	BAOXUE_ENV=development $(BIN)/flask --app wsgi demo-data --if-empty
	BAOXUE_ENV=development $(BIN)/flask --app wsgi run --host 127.0.0.1 --port 5000

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
