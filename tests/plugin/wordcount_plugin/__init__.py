"""A plug-in package for infmllm-eval, used by tests/test_plugin.py: a task family with its own
metrics (one lower-is-better, one without direction), a loader, a model adapter, a prompt
style, and the cards that use them. It lives outside ``infmllm_eval/`` and is found only
through its entry points (``wordcount_plugin-0.1.dist-info/entry_points.txt``)."""
