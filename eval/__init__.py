"""Evaluation: run the question set through an answerer, score it, report and compare runs."""
