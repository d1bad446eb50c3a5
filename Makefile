# make book: set up .venv and build the book into _build/html from the chapters' stored outputs
# make test: set up .venv, run the unit tests, then execute every chapter under nbval (text and figures checked)
# make browser-test: after make book, check the built pages in headless chromium
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU build of torch (this pin takes the wheel on the machine's disk; see README).
TORCH ?= torch==2.13.0

.PHONY: book test browser-test install clean

install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

book: install
	$(BIN)/jupyter-book build . --warningiserror --nitpick --keep-going

test: install
	MPLBACKEND=Agg $(BIN)/python -m pytest tests --ignore=tests/browser
	$(BIN)/python -m pytest --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg -p tests.nbval_figures -p no:cacheprovider --durations=10 book

# Needs Debian's chromium (apt-get install chromium); playwright never downloads a browser here.
browser-test: install
	$(BIN)/python -m pip install --quiet playwright
	$(BIN)/python -m pytest tests/browser -p no:cacheprovider

clean:
	rm -rf _build
