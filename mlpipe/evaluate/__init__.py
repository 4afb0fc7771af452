"""Evaluation: test metrics, significance, morphology classes, importances, figures and report."""
