"""Closing the loop on a served model: drift against the training profile, alert rules and the
monitor report (with retraining)."""
