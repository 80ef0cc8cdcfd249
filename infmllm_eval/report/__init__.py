"""Reports over finished runs: leaderboard tables (Markdown, CSV, LaTeX, HTML with charts),
per-sample diffs between two runs with a paired bootstrap, and regression gates for CI.

Everything is read back from run directories (or ``score`` outputs and baseline files);
nothing here runs a model.
"""
