# Two commands set up everything on a fresh machine with Python 3.11:
#   make demo   - install into .venv and run the MGAR pipeline on the bundled simulated catalogue
#   make test   - install into .venv and run the test suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
OUT ?= results/demo

.PHONY: demo test test-all bench install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test,scale]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/mgar run --out $(OUT)

test: $(STAMP)
	MPLBACKEND=Agg $(PY) -m pytest

test-all: $(STAMP)
	MPLBACKEND=Agg $(PY) -m pytest -m "slow or not slow"

bench: $(STAMP)
	$(PY) benchmarks/preprocess.py
	$(PY) benchmarks/likelihood.py
	$(PY) benchmarks/sampling.py --n 5000 --backends numpyro
	$(PY) benchmarks/c25_size.py

clean:
	rm -rf $(VENV) results data/cache
