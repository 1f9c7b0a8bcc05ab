# `make run`  : set up .venv (if needed) and run the demo.
# `make test` : set up .venv (if needed) and run every test.
# `make test-cluster` : the tests against a real Kubernetes API server (.ci/test-cluster).
# `make setup` is a quick no-op when no pyproject.toml or this Makefile changed.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

# Every distribution of the repo, installed editable. Order matters only for
# readability; pip resolves the local `flyte-core` dependency from the same call.
DISTS := core $(sort $(dir $(wildcard plugins/*/pyproject.toml connectors/*/pyproject.toml examples/*/pyproject.toml)))
# torch comes from the CPU wheel on local disk; pip installs it before anything
# that depends on it, so no resolver ever picks a CUDA build.
TORCH := torch==2.13.0

# Fake services the connector tests start (fakesnow, bqemulator), each in a venv of its own:
# their pinned duckdb/protobuf/driver versions must not clash with the project's.
FAKES := .venv-fakes
FAKE_REQS := $(wildcard tests/connectors/fakes/*.txt)
FAKE_STAMPS := $(patsubst tests/connectors/fakes/%.txt,$(FAKES)/%/.installed,$(FAKE_REQS))

.PHONY: setup test test-cluster run lint bench clean fakes

setup: $(STAMP) $(FAKE_STAMPS)

fakes: $(FAKE_STAMPS)

$(FAKES)/%/.installed: tests/connectors/fakes/%.txt
	test -x $(FAKES)/$*/bin/python || $(PYTHON) -m venv $(FAKES)/$*
	$(FAKES)/$*/bin/python -m pip install -q -r $<
	touch $@

$(STAMP): Makefile pyproject.toml $(wildcard core/pyproject.toml plugins/*/pyproject.toml connectors/*/pyproject.toml examples/*/pyproject.toml)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade "pip>=25.1"
	if [ -d plugins/pytorch ]; then $(PY) -m pip install -q "$(TORCH)"; fi
	$(PY) -m pip install -q --group dev $(foreach d,$(DISTS),-e ./$(d))
	touch $@

test: setup
	$(PY) -m ruff check .
	$(PY) -m pytest

# FLYTE_TEST_KUBECONTEXT=ctx: your cluster; otherwise ../shared/tools/kube's servers, built once
# into KUBE_TMPDIR (default ~/.cache/flyte-test-kube) and reused.
test-cluster: setup
	PY=$(PY) .ci/test-cluster

run: $(STAMP)
	$(PY) examples/demo.py

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

bench: setup
	$(PY) benchmarks/run.py

clean:
	rm -rf $(VENV) $(FAKES)
