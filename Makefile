# The commands the README gives. Everything the project needs is installed from here.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
RAG := $(VENV)/bin/rag
HOST ?= 127.0.0.1
PORT ?= 7860
MULTIHOP_LIMIT ?= 100

# Offline by construction: no model hub, no telemetry, no analytics.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export ANONYMIZED_TELEMETRY := False
export GRADIO_ANALYTICS_ENABLED := False
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: install install-dev run test test-fast test-server test-reliability test-llm test-browser \
	test-security loadtest eval eval-ci bench screenshots \
	bench-quick lint browser clean

$(VENV)/.installed: requirements.lock pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.lock
	$(PY) -m pip install -q --no-deps -e .
	touch $@

# Test tools, the llama.cpp server (built from source once, then from pip's wheel cache).
$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.lock
	$(PY) -m pip install -q -r requirements-dev.lock
	touch $@

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

# Debian's Chromium for the browser tests (a tool's own browser download is not possible).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:
	@test -x /usr/bin/chromium || { $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends \
	  chromium fonts-dejavu-core; }

run: install
	$(RAG) index
	$(RAG) serve --host $(HOST) --port $(PORT)

test: install-dev browser
	$(PY) -m pytest -q -ra
	$(RAG) eval --suite seeds

test-fast: install-dev
	$(PY) -m pytest -q -m "not llm and not browser and not server and not slow"

# Parts of the suite on their own (all of them run in `make test`).
test-server: install-dev
	$(PY) -m pytest -q tests/scale -m server

test-reliability: install-dev
	$(PY) -m pytest -q tests/scale -m "not server"

test-llm: install-dev
	$(PY) -m pytest -q -m llm

test-browser: install-dev browser
	$(PY) -m pytest -q -m browser

test-security: install-dev
	$(PY) -m pytest -q tests/security

# 50 concurrent clients for 60 s against the real server: no error, memory flat.
loadtest: install-dev
	$(PY) -m tests.security.loadtest --clients 50 --seconds 60

eval: install
	$(RAG) eval --suite seeds --report reports/seeds
	$(RAG) eval --suite multihop --report reports/multihop

eval-ci: install
	$(RAG) eval --suite multihop --split dev --limit $(MULTIHOP_LIMIT)

# The full MultiHop-RAG corpus (indexes 609 articles: slow); bench-quick is the short run.
bench: install-dev
	$(RAG) bench --corpus multihop

bench-quick: install-dev
	$(RAG) bench --quick

# The views in docs/screenshots/ (the README shows them), from the browser tests.
screenshots: install-dev browser
	RAG_DOCS_SHOTS=1 $(PY) -m pytest -q tests/ui/test_ui_features.py
	cp docs/screenshots/conversations.png docs/screenshot.png

# Style, types (strict on rag/ and index/) and the layers of docs/architecture.md.
lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

clean:
	rm -rf .rag .eval-cache reports artifacts .pytest_cache
