# Two commands a newcomer needs:  `make chat`  and  `make test`.
# Each creates .venv on first use and installs the pinned dependencies; a second run installs nothing.

PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
QA     := $(VENV)/bin/qa
STAMP  := $(VENV)/.installed
export GRADIO_ANALYTICS_ENABLED := False
export ANONYMIZED_TELEMETRY := False
export HF_HUB_OFFLINE := 1
export NO_PROXY := 127.0.0.1,localhost,$(NO_PROXY)
export no_proxy := 127.0.0.1,localhost,$(no_proxy)
unexport TIKTOKEN_CACHE_DIR NLTK_DATA

.PHONY: install chat index test test-fast test-real lint bench eval lock clean browser

install: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=24"
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	$(QA) model --quiet
	touch $(STAMP)

## Command 1: index seeds/ and open the web chat at http://127.0.0.1:7860
chat: install
	$(QA) index seeds/
	$(QA) chat

## Command 2: the whole test suite (fast fakes, then the real models on seeds/, then the browser)
test: install browser
	$(PY) -m pytest -q

test-fast: install
	$(PY) -m pytest -q -m "not real and not browser"

test-real: install
	$(PY) -m pytest -q -m real

lint: install
	$(VENV)/bin/ruff check app qa index ui eval tests
	$(VENV)/bin/ruff format --check app qa index ui eval tests
	$(VENV)/bin/mypy app qa index ui eval

bench: install
	$(PY) eval/bench.py

eval: install
	$(QA) eval --out eval/out

# The development suite: one table, a row per set (seeds, python_docs, SQuAD, BlockchainSolana).
.PHONY: eval-suite
eval-suite: install
	$(QA) eval --suite --out eval/out-suite

# Debian's chromium for the real-browser test (Playwright never downloads a browser here).
browser:
	@test -x /usr/bin/chromium || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium is missing: run 'sudo apt-get install chromium' for the browser test"; fi; }

lock:
	$(PY) -m pip freeze --exclude-editable | grep -v '^qa' | sed 's|^llama_cpp_python @ .*|llama_cpp_python==0.3.36|' > requirements.lock

clean:
	rm -rf $(VENV) .qa .pytest_cache
