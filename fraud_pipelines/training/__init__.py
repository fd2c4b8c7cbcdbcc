"""The model library: XGBoost training, the baseline, evaluation, plots and the MLflow registry
resource that the training assets call."""
