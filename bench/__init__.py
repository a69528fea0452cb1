"""Benchmarks, each runnable with one command (see the module docstrings)."""
