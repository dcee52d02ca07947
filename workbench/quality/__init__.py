"""Checks on data and models: checks.yaml, data validation (pandera), the model gate, fairness per
group and the training profiles monitoring compares live traffic with."""
