# The project's few verbs. Each creates .venv and installs what it needs on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
LOCK   := requirements.lock

.PHONY: install lock run chat check-config migrate test test-quick lint format bench clean

install: $(STAMP)

# The versions the suite passed with (requirements.lock), then the project itself without
# resolving anything again; `pip check` fails if the lock no longer satisfies pyproject.toml.
$(STAMP): pyproject.toml $(LOCK)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	$(BIN)/python -m pip check
	@touch $(STAMP)

# Re-pin every dependency from pyproject.toml in a clean environment: plain pip, so nothing
# beyond Python is needed to reproduce the lock.
lock:  ## after changing a dependency in pyproject.toml; commit requirements.lock with it
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet --upgrade pip
	.lock-venv/bin/python -m pip install --quiet '.[dev]'
	head -n 3 $(LOCK) > $(LOCK).new
	.lock-venv/bin/python -m pip freeze --exclude-editable | grep -v '^citybot' >> $(LOCK).new
	mv $(LOCK).new $(LOCK) && rm -rf .lock-venv build citybot.egg-info

run: install  ## start the bot (terminal chat when TELEGRAM_BOT_TOKEN is not set)
	$(BIN)/python -m bot run

chat: install  ## play a resident in this terminal
	$(BIN)/python -m bot chat

check-config: install  ## validate bot.toml (BOT_CONFIG) and the environment without starting
	$(BIN)/citybot check-config

migrate: install  ## create or upgrade the database tables
	$(BIN)/python -m bot migrate

test: install  ## the whole suite (PostgreSQL too when TEST_DATABASE_URL is set)
	$(BIN)/python -m pytest

test-quick: install  ## the suite without the tests that wait out real time
	$(BIN)/python -m pytest -m "not slow"

lint: install  ## ruff, mypy --strict and the import contracts (pyproject.toml [tool.importlinter])
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	$(BIN)/lint-imports

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install  ## performance figures (bench/README.md); not part of `make test`
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis .import_linter_cache
