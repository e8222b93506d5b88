"""Evaluation: suites, cached generation, metrics through reward plugins, statistics, the gate, reports."""

from rlit.evaluation.results import SuiteResults
from rlit.evaluation.runner import evaluate
from rlit.evaluation.suite import Suite, load_suite

__all__ = ["evaluate", "SuiteResults", "Suite", "load_suite"]
