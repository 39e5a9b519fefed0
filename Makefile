# Two commands do everything on a fresh machine (see README):
#   make refresh   set up .venv, generate a demo snapshot, run the monthly refresh
#   make test      set up .venv, run the test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# The refresh month: the previous calendar month unless given (make refresh MONTH=2026-10).
MONTH     ?= $(shell date -u -d "$$(date -u +%Y-%m-01) -1 month" +%Y-%m)
DEMO_ROWS ?= 20000

.PHONY: setup refresh test lab clean-demo

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test,glue]"
	touch $@

# The project's kernel, inside .venv (--sys-prefix: never a --user spec another clone would share).
KERNEL := $(VENV)/share/jupyter/kernels/flywheel-runbook/kernel.json
$(KERNEL): $(BIN)/.installed
	$(BIN)/python -m ipykernel install --sys-prefix --name flywheel-runbook \
		--display-name "Python (flywheel-runbook)" >/dev/null

setup: $(BIN)/.installed $(KERNEL)

refresh: setup
	$(BIN)/python run_refresh.py --month $(MONTH) --demo-rows $(DEMO_ROWS)

# Three workers (-n 3), each taking whole test files (--dist loadfile), so a module's shared
# fixtures (a refreshed lake, a moto server) are built once. Three on two cores: much of a test's
# time is waiting (kernels starting, Glue and Athena polls, child processes), which a third worker
# fills (measured on 2 idle cores: 9 min 38 s with -n 2, 7 min 58 s with -n 3).
test: setup
	$(BIN)/python -m pytest -n 3 --dist loadfile

# JUPYTER_PREFER_ENV_PATH: this .venv's kernel spec wins over a --user one of the same name.
lab: setup
	JUPYTER_PREFER_ENV_PATH=1 $(BIN)/jupyter lab notebooks/

clean-demo:
	rm -rf data/ runs/*/
