"""The run registry: every run's record, in SQLite by default or PostgreSQL by URL."""

from operatorflow.registry.store import Run, RunRegistry

__all__ = ["Run", "RunRegistry"]
