"""Predictions for new galaxies from a model bundle (the last stage: it reads every earlier one)."""
