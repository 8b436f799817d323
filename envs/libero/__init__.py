"""LIBERO: the benchmark (benchmark.py) and what it is made of; see docs/architecture.md."""

from envs.libero.benchmark import LiberoBenchmark

__all__ = ["LiberoBenchmark"]
