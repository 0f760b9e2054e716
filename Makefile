# Two commands do everything (each creates .venv on first use):
#   make run    warm-start check + GRPO on the CPU, then its learning-curve figure, all in runs/grpo
#   make test   lint, unit tests, every notebook, the bug zoo (every planted bug must be caught), and the book
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: run test docs exercise compare bench bugzoo variants sweep figures warmstart data reward-models reproduce \
	reproduce-quick

$(VENV)/installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

run: $(VENV)/installed
	$(PY) -m minigrpo eval --checkpoint data/warmstart.pt
	$(PY) -m minigrpo grpo --out runs/grpo --overwrite
	$(PY) -m minigrpo eval --checkpoint runs/grpo/policy.pt
	$(PY) -m minigrpo figures --run runs/grpo --out runs/grpo

# The PPO baseline on the same task, then the four run figures of docs/results.md (learning curves, GRPO vs PPO,
# accuracy vs time, token credit strips) redrawn from runs/grpo and runs/ppo into figures/: tracked files, on purpose.
compare: $(VENV)/installed
	$(PY) -m minigrpo ppo --out runs/ppo --overwrite
	$(PY) -m minigrpo figures --run runs/grpo --ppo-run runs/ppo --out figures

# Redraw the notebooks' figures into figures/. Tests and a plain run of a notebook write them to a scratch
# folder instead, so that running the course never changes tracked files; the executed copies are discarded.
figures: $(VENV)/installed
	MINIGRPO_FIGURES=$(CURDIR)/figures $(PY) -m jupyter nbconvert --to notebook --execute \
	  --output-dir $$(mktemp -d) notebooks/*.ipynb

# The headline runs (docs/results.md): the credit plan (GRPO outcome/process, PPO, VinePPO, ...), GRPO on the
# shipped reward models and the two controls, then noisy step labels, each plan with the runs and seeds of
# minigrpo/lab/experiments/plans.py. Many hours on 2 cores; every finished run is kept and recorded in
# data/results.json as it finishes, so stopping and rerunning resumes.
sweep: $(VENV)/installed
	$(PY) -m minigrpo sweep credit reward_models controls step_label_noise

# Everything the README and the book show, rebuilt in order from the splits up: warm start, reward models, every sweep
# over seeds, the shipped checkpoints, the figures, the notebooks' outputs, the generated tables (docs/results.md).
# Many hours on 2 cores; stopping and rerunning resumes. reproduce-quick: the same stages at toy size, in minutes,
# into runs/reproduce-quick (the repository is not touched).
reproduce: $(VENV)/installed
	$(PY) -m minigrpo reproduce

reproduce-quick: $(VENV)/installed
	$(PY) -m minigrpo reproduce --quick

bench: $(VENV)/installed
	$(PY) -m minigrpo bench

# Plant each real-world bug of minigrpo/lab/bugzoo/catalogue.py in a temporary copy of the package and run the tests
# that should catch it; fails if one survives. About a minute on 2 cores.
bugzoo: $(VENV)/installed
	$(PY) -m minigrpo bugzoo

# The variants table (docs/variants.md): 150 GRPO steps per variant from the same warm start, over the seeds of plan
# "variants" (minigrpo/lab/experiments/plans.py), recorded in data/results.json. About 25 minutes per seed on 2 cores;
# resumes.
variants: $(VENV)/installed
	$(PY) -m minigrpo sweep variants

# nbmake stops a cell after 300 s by default; on a busy 2-core machine the training cells can take longer.
test: $(VENV)/installed
	$(PY) -m ruff check .
	$(PY) -m pytest --nbmake --nbmake-timeout=1200 tests $(wildcard notebooks/*.ipynb)
	$(PY) -m minigrpo bugzoo
	$(MAKE) --no-print-directory docs

# The book (docs/conf.py): the pages of docs/ and the notebooks as committed (never executed here), into docs/_build
# (ignored). Strict: any warning fails, so a broken link, a missing anchor or a missing figure stops the build.
docs: $(VENV)/installed
	$(PY) -m sphinx -b html -c docs -W --keep-going -q -d docs/_build/doctrees . docs/_build/html
	@echo "the book: docs/_build/html/index.html"

# Grade your version of one function with its tests: make exercise NAME=gae. The first time, the template
# minigrpo/lab/exercises/NAME.py is copied to runs/exercises/NAME.py (ignored by git): your copy, to edit, never
# overwritten; each run grades it.
exercise: $(VENV)/installed
	$(PY) -m minigrpo exercise $(NAME)

# The splits, byte for byte.
data: $(VENV)/installed
	$(PY) -m minigrpo data

# The shipped reward models data/orm.pt and data/prm.pt, trained on the warm start's completions (1 and 2 minutes
# on 2 cores); their held-out reports are the last line each command prints.
reward-models: $(VENV)/installed
	$(PY) -m minigrpo reward-model --kind outcome --out runs/orm --overwrite
	$(PY) -m minigrpo reward-model --kind process --out runs/prm --overwrite
	cp runs/orm/reward_model.pt data/orm.pt
	cp runs/prm/reward_model.pt data/prm.pt

# The warm start: bit for bit the shipped data/warmstart.pt on the CPU kind and thread count that made it
# (docs/results.md); another kind of CPU rounds differently and makes another one, which every shipped number is not
# from.
warmstart: $(VENV)/installed
	$(PY) -m minigrpo warmup --out runs/warmup --overwrite
	cp runs/warmup/policy.pt data/warmstart.pt
