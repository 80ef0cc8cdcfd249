"""Scoring functions: VQA accuracy, GQA exact match and answer post-processing."""
