# Two commands do everything (each creates .venv on first use):
#   make run    warm-start check + GRPO on the CPU, then the learning-curve figure
#   make test   lint, unit tests, every notebook, and the bug zoo (every planted bug must be caught)
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: run test exercise compare bench bugzoo variants sweep figures warmstart data reward-models

$(VENV)/installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

run: $(VENV)/installed
	$(PY) -m minigrpo eval --checkpoint data/warmstart.pt
	$(PY) -m minigrpo grpo --out runs/grpo --overwrite
	$(PY) -m minigrpo eval --checkpoint runs/grpo/policy.pt
	$(PY) -m minigrpo figures --run runs/grpo

# The PPO baseline on the same task, then every figure (GRPO vs PPO, token credit strips).
compare: $(VENV)/installed
	$(PY) -m minigrpo ppo --out runs/ppo --overwrite
	$(PY) -m minigrpo figures --run runs/grpo --ppo-run runs/ppo

# Redraw the notebooks' figures into figures/. Tests and a plain run of a notebook write them to a scratch
# folder instead, so that running the course never changes tracked files; the executed copies are discarded.
figures: $(VENV)/installed
	MINIGRPO_FIGURES=$(CURDIR)/figures $(PY) -m jupyter nbconvert --to notebook --execute \
	  --output-dir $$(mktemp -d) notebooks/*.ipynb

# README "Credit assignment": GRPO outcome/process, PPO, VinePPO over 3 seeds, then noisy step labels; README
# "Reward sources": GRPO on the shipped reward models (data/grpo_orm_policy.pt is the ORM run's policy).
# Hours on 2 cores; each finished run is kept, so stopping and rerunning resumes. Summaries in data/sweeps/.
sweep: $(VENV)/installed
	$(PY) -m minigrpo sweep credit --seeds 0 1 2
	$(PY) -m minigrpo sweep step_label_noise --seeds 0
	$(PY) -m minigrpo sweep reward_models --seeds 0
	test ! -f runs/sweeps/reward_models/grpo_orm/seed0/policy.pt || \
	  cp runs/sweeps/reward_models/grpo_orm/seed0/policy.pt data/grpo_orm_policy.pt

bench: $(VENV)/installed
	$(PY) -m minigrpo bench

# Plant each real-world bug of minigrpo/bugzoo/catalogue.py in a temporary copy of the package and run the tests
# that should catch it; fails if one survives. About a minute on 2 cores.
bugzoo: $(VENV)/installed
	$(PY) -m minigrpo bugzoo

# The README's variants table: 150 GRPO steps per variant from the same warm start and seed.
# Each run prints its accuracy before/after as its last line; runs/variants/NAME holds its metrics.
VARIANT_STEPS ?= 150
VARIANTS = \
	grpo: \
	dapo:--aggregation=dapo \
	dr_grpo:--aggregation=dr_grpo+--adv-scale=none \
	batch_std:--adv-scale=batch \
	rloo:--baseline=leave_one_out \
	grpo_mu2:--num-inner-steps=2 \
	clip_higher_mu2:--num-inner-steps=2+--clip-eps-high=0.28 \
	gspo_mu2:--num-inner-steps=2+--ratio-level=sequence+--clip-eps=0.02 \
	sum3:--reward-weights=correct=1,format=0.5,length=0.5 \
	gdpo3:--reward-weights=correct=1,format=0.5,length=0.5+--multi-reward-norm=gdpo \
	iterative:--ref-reset-every=50

variants: $(VENV)/installed
	@mkdir -p runs/variants
	@for v in $(VARIANTS); do \
	  name=$${v%%:*}; flags=$$(echo $${v#*:} | tr '+' ' '); \
	  echo "== $$name $$flags"; \
	  $(PY) -m minigrpo grpo --steps $(VARIANT_STEPS) --eval-every 50 $$flags --out runs/variants/$$name --overwrite \
	    > runs/variants/$$name.out || exit 1; \
	  tail -n 1 runs/variants/$$name.out; \
	done

# nbmake stops a cell after 300 s by default; on a busy 2-core machine the training cells can take longer.
test: $(VENV)/installed
	$(PY) -m ruff check .
	$(PY) -m pytest --nbmake --nbmake-timeout=1200 tests $(wildcard notebooks/*.ipynb)
	$(PY) -m minigrpo bugzoo

# Grade your version of a step (minigrpo/exercises/NAME.py) with that step's tests: make exercise NAME=gae
exercise: $(VENV)/installed
	tests=$$($(PY) -c "from minigrpo.exercises import tests_for; print(tests_for('$(NAME)'))") && \
	  $(PY) -m pytest $$tests --student $(NAME)

# Rebuild what data/ ships: the splits byte for byte; a warm start like the shipped one (README, Results:
# today's code rounds differently, 0.452 instead of 0.428 on an AMD EPYC, and overwrites data/warmstart.pt).
data: $(VENV)/installed
	$(PY) -m minigrpo data

# The shipped reward models data/orm.pt and data/prm.pt, trained on the warm start's completions (1 and 2 minutes
# on 2 cores); their held-out reports are the last line each command prints.
reward-models: $(VENV)/installed
	$(PY) -m minigrpo reward-model --kind outcome --out runs/orm --overwrite
	$(PY) -m minigrpo reward-model --kind process --out runs/prm --overwrite
	cp runs/orm/reward_model.pt data/orm.pt
	cp runs/prm/reward_model.pt data/prm.pt

warmstart: $(VENV)/installed
	$(PY) -m minigrpo warmup --out runs/warmup --overwrite
	cp runs/warmup/policy.pt data/warmstart.pt
