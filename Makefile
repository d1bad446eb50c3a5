# make book: set up .venv and build the book into _build/html from the chapters' stored outputs
# make book SOLUTIONS=hidden: the course's edition, exercise solutions withheld, into _build/course/_build/html
# make assignments: regenerate the student notebooks in assignments/ from the chapters
# make test: set up .venv, run the unit tests, then execute every chapter under nbval (text and figures checked)
# make browser-test: after make book, check the built pages in headless chromium
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU build of torch, from PyTorch's CPU index (PyPI's torch is a CUDA build of several GB).
# Another build: make test TORCH="torch==2.5.1" or TORCH_INDEX=https://download.pytorch.org/whl/cu121
TORCH ?= torch==2.13.0
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
# shown: each exercise's solution folded under it; hidden: withheld (book/_ext/solutions.py)
SOLUTIONS ?= shown
BOOK_OUT := $(if $(filter hidden,$(SOLUTIONS)),_build/course,.)

.PHONY: book test browser-test assignments install clean

install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	if $(BIN)/python -c "import urllib.request; urllib.request.urlopen('$(TORCH_INDEX)/torch/', timeout=10)" 2>/dev/null; then \
	  $(BIN)/python -m pip install --quiet "$(TORCH)" --index-url $(TORCH_INDEX) --extra-index-url https://pypi.org/simple; \
	else \
	  echo "$(TORCH_INDEX) is out of reach: installing $(TORCH) from pip's configured index" \
	    "(on PyPI that is a CUDA build of several GB)"; \
	  $(BIN)/python -m pip install --quiet "$(TORCH)"; \
	fi
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

book: install
	TMS_SOLUTIONS=$(SOLUTIONS) $(BIN)/jupyter-book build . --path-output $(BOOK_OUT) --warningiserror --nitpick --keep-going

assignments: install
	$(BIN)/python scripts/assignments.py student book/[0-9]*.ipynb -o assignments

test: install
	MPLBACKEND=Agg $(BIN)/python -m pytest tests --ignore=tests/browser
	$(BIN)/python -m pytest --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg -p tests.nbval_figures -p no:cacheprovider --durations=10 book

# Needs Debian's chromium (apt-get install chromium); playwright never downloads a browser here.
browser-test: install
	@test -x "$${CHROMIUM:-/usr/bin/chromium}" || { echo "make browser-test needs Debian's chromium at" \
	  "$${CHROMIUM:-/usr/bin/chromium}: sudo apt-get update && sudo apt-get install chromium, or set CHROMIUM" \
	  "to another chromium (playwright's own browser download is not used)" >&2; exit 1; }
	$(BIN)/python -m pip install --quiet playwright
	TMS_REQUIRE_BROWSER=1 $(BIN)/python -m pytest tests/browser -p no:cacheprovider

clean:
	rm -rf _build
