"""Data files that belong to the packaged model: the judge's probe (see qa.judge_probe)."""
