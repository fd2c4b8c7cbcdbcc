"""Pure feature engineering for the fraud model: DataFrames in, DataFrames out.

No Dagster, no file I/O, no globals; imported alike by backfills and by daily runs.
"""
