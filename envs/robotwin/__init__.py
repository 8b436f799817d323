"""RoboTwin 2.0: the benchmark (benchmark.py) and what it is made of; see docs/architecture.md."""

from envs.robotwin.benchmark import RoboTwinBenchmark

__all__ = ["RoboTwinBenchmark"]
