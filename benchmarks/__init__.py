"""Dataset suites and runners that compare this engine with plain baselines on real data."""
