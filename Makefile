# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CATALOGUES := $(wildcard wallet_ui/translations/*/LC_MESSAGES/messages.po)
COMPILED := $(CATALOGUES:.po=.mo)
export SERDIKA_VAR_DIR ?= $(CURDIR)/var
# Every package of the project: linted, formatted and type-checked alike.
PACKAGES := broker commons consent connectors demo wallet_ui

.PHONY: run test lint format translations extract-messages benchmark clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

%.mo: %.po $(STAMP)
	$(BIN)/pybabel compile --statistics -i $< -o $@

translations: $(COMPILED)

run: $(STAMP) translations
	$(BIN)/serdika db upgrade
	$(BIN)/serdika demo seed --if-new
	@echo "Serdika: http://$${SERDIKA_BIND:-127.0.0.1:8000}/wallet/  (Ctrl-C stops it)"
	$(BIN)/serdika serve

# Coverage is measured over the whole suite; its floor is [tool.coverage.report] fail_under.
test: $(STAMP) translations
	$(BIN)/python -m pytest --cov --cov-report=term

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check $(PACKAGES)
	$(BIN)/mypy
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff format $(PACKAGES)
	$(BIN)/ruff check --fix .

extract-messages: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k _ -k gettext -k ngettext:1,2 -k lazy_gettext \
	  -o wallet_ui/translations/messages.pot wallet_ui broker
	$(BIN)/pybabel update -i wallet_ui/translations/messages.pot -d wallet_ui/translations

benchmark: $(STAMP) translations
	benchmarks/run.sh

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
