"""OperatorFlow: run Spark notebooks and ML pipelines from the browser without touching infrastructure."""

__version__ = "0.1.0"
