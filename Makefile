# The project's few verbs. Each creates .venv and installs what it needs on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run chat migrate test lint format bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

run: install  ## start the bot (terminal chat when TELEGRAM_BOT_TOKEN is not set)
	$(BIN)/python -m bot run

chat: install  ## play a resident in this terminal
	$(BIN)/python -m bot chat

migrate: install  ## create or upgrade the database tables
	$(BIN)/python -m bot migrate

test: install  ## the whole suite (PostgreSQL too when TEST_DATABASE_URL is set)
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install  ## performance figures (bench/README.md); not part of `make test`
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
