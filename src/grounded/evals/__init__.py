"""Evaluation: datasets, metrics, and (to come) runners, judges, reports and gates.

See docs/evals.md.
"""
