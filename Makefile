# Two commands do everything: `make lab` opens the course, `make test` checks it.
# Both create the virtual environment in .venv first when it is missing.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

NBVAL := --nbval --nbval-current-env --nbval-cell-timeout=900 \
	--nbval-sanitize-with tests/nbval_sanitize.cfg

.PHONY: lab test lint notebooks clean-env

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "Python 3.10 or newer is needed; set PYTHON=python3.x")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -e ".[lab,test]"
	# nbgrader makes the student versions; its teacher menus stay out of the students' JupyterLab.
	$(BIN)/jupyter labextension disable --level=sys_prefix @jupyter/nbgrader
	touch $(STAMP)

lab: $(STAMP)
	$(BIN)/jupyter lab

# Unit tests, then every notebook under nbval in fast mode.
test: $(STAMP)
	COURSE_FAST=1 $(BIN)/python -m pytest tests notebooks $(NBVAL)

# Re-execute the committed notebooks (fast mode) after changing them.
notebooks: $(STAMP)
	$(BIN)/python scripts/run_notebooks.py

lint: $(STAMP)
	$(BIN)/ruff check course_utils tests benchmarks scripts notebooks

clean-env:
	rm -rf $(VENV)
