"""Benchmarks of kbcore against baselines measured in the same run.

Run them with ``uv run python -m benchmarks``; see ``benchmarks/RESULTS.md``.
"""
