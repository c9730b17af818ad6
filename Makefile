# Two commands do all set-up: `make demo` and `make test` (each creates .venv on first use).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_DIR ?= demo

.PHONY: install browser demo test bench clean

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

test: install browser
	$(PY) -m pytest -q

bench: install
	for script in bench/*.py; do $(PY) $$script || exit 1; done

clean:
	rm -rf $(VENV) $(DEMO_DIR) build *.egg-info
