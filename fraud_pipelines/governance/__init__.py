"""Explaining and governing the model's decisions: reason codes, fairness slices, the shadow
challenger's competition, and the value and cost of each model version. The modules here are
plain code (no Dagster) except `assets.py`, so the REST service can use the reason codes."""
