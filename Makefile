# Two commands do everything (each creates .venv on first use):
#   make run    warm-start check + GRPO on the CPU, then the learning-curve figure
#   make test   lint, unit tests and every notebook
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: run test compare bench warmstart data

$(VENV)/installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

run: $(VENV)/installed
	$(PY) -m minigrpo eval --checkpoint data/warmstart.pt
	$(PY) -m minigrpo grpo --out runs/grpo
	$(PY) -m minigrpo eval --checkpoint runs/grpo/policy.pt
	$(PY) -m minigrpo figures --run runs/grpo

# The PPO baseline on the same task, then every figure (GRPO vs PPO, token credit strips).
compare: $(VENV)/installed
	$(PY) -m minigrpo ppo --out runs/ppo
	$(PY) -m minigrpo figures --run runs/grpo --ppo-run runs/ppo

bench: $(VENV)/installed
	$(PY) -m minigrpo bench

test: $(VENV)/installed
	$(PY) -m ruff check .
	$(PY) -m pytest --nbmake tests $(wildcard notebooks/*.ipynb)

# Rebuild what data/ ships (byte for byte for the splits; same numbers on the CPU for the checkpoint).
data: $(VENV)/installed
	$(PY) -m minigrpo data

warmstart: $(VENV)/installed
	$(PY) -m minigrpo warmup --out runs/warmup
	cp runs/warmup/policy.pt data/warmstart.pt
