# Two commands: `make demo` (the main job) and `make test` (what CI runs).
# Both create .venv with Python 3.11 on first use and reuse it while pyproject.toml is unchanged.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
JS := samples/js
JS_STAMP := $(JS)/node_modules/.installed

.PHONY: demo test lint install clean screenshot

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[train,dev]"
	@# flite speaks the cross-generator validation set (lstm-apps data flite); a Debian package
	@command -v flite >/dev/null || (apt-get update -qq && apt-get install -y -qq flite >/dev/null) \
		|| echo "could not install flite (apt-get install flite): its tests will fail"
	@touch $(STAMP)

# The JS port's tests (tests/test_js.py) and the browser demo's (tests/test_web_demo.py):
# Node >= 20 with samples/js's locked packages (--ignore-scripts: onnxruntime-node's install
# script downloads what the package already holds), and Debian's chromium. Without them
# those tests fail; they never skip.
$(JS_STAMP): $(JS)/package-lock.json
	@(cd $(JS) && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) \
		|| echo "could not install samples/js's packages (npm ci): tests/test_js.py will fail"
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) \
		|| echo "could not install chromium (apt-get install chromium): tests/test_web_demo.py will fail"
	@test ! -d $(JS)/node_modules || touch $(JS_STAMP)

install: $(STAMP) $(JS_STAMP)

demo: $(STAMP)
	$(BIN)/lstm-apps demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy lstm_apps/runtime lstm_apps/__init__.py lstm_apps/serve.py

test: lint $(JS_STAMP)
	$(BIN)/python -m pytest

# The README's picture of the demo page: serve-demo, then headless Chromium draws it.
screenshot: $(STAMP) $(JS_STAMP)
	@$(BIN)/python -m lstm_apps serve-demo --port 8123 & pid=$$!; sleep 2; \
	node $(JS)/test/drive_demo.js http://127.0.0.1:8123/ --image samples/images/scene4.png --word 7 \
		--wav samples/speech/stream.wav --screenshot samples/web/.screenshot.png >/dev/null; \
	status=$$?; kill $$pid; test $$status = 0 && mv samples/web/.screenshot.png samples/web/screenshot.png; \
	rm -f samples/web/.screenshot.png; exit $$status

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
