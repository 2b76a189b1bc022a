"""The UAR/WAR metric folder: what `evaluate.load` reads (`uar_war.py`, found by the folder's name, and the
metric card `README.md`). This file only makes the folder an importable package, so that dfer can import the
script's `recall_metrics` rather than define the maths a second time; `evaluate.load` ignores it."""
