"""Automation: the daily schedule, backfills, retraining sensors (new labels, drift, decay), the
inbox for dropped files, and failure reasons on runs. `definitions.py` wires the lists exported by
`assets`, `jobs`, `schedules` and `sensors`."""
