# make book: set up .venv and build the executed book into _build/html
# make test: set up .venv and run the unit tests and the chapters under nbval
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU build of torch (this pin takes the wheel on the machine's disk; see README).
TORCH ?= torch==2.13.0

.PHONY: book test install clean

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
	MPLBACKEND=Agg $(BIN)/python -m pytest tests
	$(BIN)/python -m pytest --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg -p no:cacheprovider book

clean:
	rm -rf _build
