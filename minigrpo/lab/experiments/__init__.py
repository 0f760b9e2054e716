"""Experiments: the runs behind every number the README, the book and the notebooks cite.

plans.py      the sweep plans (methods and their flags) and the seeds a reproduction trains of each
sweep.py      a plan's methods x seeds, trained one process at a time, resumably
results.py    data/results.json (one record per finished run) and the statistics over seeds
tables.py     the tables of results, generated from the results file
readme.py     every generated block of README.md and docs/*.md (those tables, the course map, the loop diff, the
              bug zoo), and their update
reproduce.py  one command that rebuilds data/, the results, the figures, the notebooks and the generated tables
"""
