# Two commands do all set-up: `make demo` and `make test` (each creates .venv on first use).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_DIR ?= demo

.PHONY: install browser zoo demo test lint bench mutants clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check torch==2.13.0
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	rm -rf *.egg-info  # else it shadows the editable install's metadata when run from here
	touch $(STAMP)

# real Qwen3 / Llama-3 tokenizers from the package index, cached once per machine (seconds when
# cached); without the index the tiny organisms fall back to a tokenizer trained on shipped text
install: $(STAMP)
	$(VENV)/bin/auditgame zoo tokenizers || echo "(continuing with the fallback tokenizer)"

demo: install
	$(VENV)/bin/auditgame demo --dir $(DEMO_DIR)

browser:
	sh .ci/install-browser.sh

# the reduced organism zoo the tests measure: trained once (minutes), then reused from the cache
zoo: install
	nice -n 5 $(VENV)/bin/auditgame zoo build --quick

test: install browser lint zoo
	$(PY) -m pytest -q

# ruff, then mypy on the package as installed: scoring/, tasks/ and organisms/ install as
# auditgame.*, so mypy reads a tree of links in that layout (build/typecheck/auditgame).
TYPECHECK := build/typecheck
lint: install
	$(VENV)/bin/ruff check .
	rm -rf $(TYPECHECK) && mkdir -p $(TYPECHECK)/auditgame
	for f in auditgame/*; do ln -s "$(CURDIR)/$$f" $(TYPECHECK)/auditgame/; done
	for d in scoring tasks organisms; do ln -s "$(CURDIR)/$$d" $(TYPECHECK)/auditgame/$$d; done
	$(VENV)/bin/mypy $(TYPECHECK)/auditgame

# Mutation testing of the core (slow; not part of `make test`): `make mutants MODULES="scoring/x.py
# auditgame/leakage"` re-tests a subset, TESTS="tests/test_x.py" runs only those tests (faster; a
# survivor may be one another test kills). The report is also written to build/mutants/report.txt.
mutants: install
	$(PY) .ci/mutants.py $(MODULES) $(if $(TESTS),--tests $(TESTS))

bench: install
	for script in bench/[!_]*.py; do $(PY) $$script || exit 1; done  # _*.py: shared helpers

clean:
	rm -rf $(VENV) $(DEMO_DIR) build *.egg-info
