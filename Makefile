# Two commands: `make demo` (the main job) and `make test` (what CI runs).
# Both create .venv with Python 3.11 on first use and reuse it while pyproject.toml is unchanged.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint install clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[train,dev]"
	@# flite speaks the cross-generator validation set (lstm-apps data flite); a Debian package
	@command -v flite >/dev/null || (apt-get update -qq && apt-get install -y -qq flite >/dev/null) \
		|| echo "could not install flite (apt-get install flite): its tests will fail"
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/lstm-apps demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy lstm_apps/runtime lstm_apps/__init__.py

test: lint
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
