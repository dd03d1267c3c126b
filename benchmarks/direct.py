"""Run an example the way a user would without OperatorFlow, as the baseline of `run_examples.py`.

`python benchmarks/direct.py wordcount OUTPUT_DIR` runs the notebook's Python cells in a plain
PySpark process; `python benchmarks/direct.py taxi PIPELINE_ROOT` (or `keras` for taxi-tip-keras)
calls the pipeline with kfp's local runner. None of them imports the operatorflow package.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent


class _Exit(Exception):
    pass


class _Widgets:
    def __init__(self, values: dict[str, str]) -> None:
        self._values = values

    def text(self, name, default, label=None):
        self._values.setdefault(name, default)

    def get(self, name):
        return self._values[name]


class _Notebook:
    def exit(self, value):
        raise _Exit(value)


class _DBUtils:
    def __init__(self, values: dict[str, str]) -> None:
        self.widgets = _Widgets(values)
        self.notebook = _Notebook()


def wordcount(output_dir: str) -> None:
    from pyspark.sql import SparkSession

    source = (PROJECT / "catalog/notebooks/shakespeare_wordcount.py").read_text()
    cells = [c for c in source.split("# COMMAND ----------") if "# MAGIC" not in c]
    spark = (SparkSession.builder.master("local[*]").config("spark.driver.memory", "2g")
             .config("spark.ui.enabled", "false").getOrCreate())
    namespace = {"spark": spark, "dbutils": _DBUtils({"output_path": output_dir})}
    try:
        for cell in cells:
            exec(compile(cell, "<cell>", "exec"), namespace)
    except _Exit as done:
        print(str(done)[:200])
    finally:
        spark.stop()


def taxi(pipeline_root: str) -> None:
    from kfp import local

    spec = importlib.util.spec_from_file_location("taxi", PROJECT / "catalog/pipelines/taxi_tip_trainer.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=pipeline_root)
    task = module.taxi_tip_trainer(input_path=str(PROJECT / "examples/data/chicago_taxi_trips.csv"))
    print(json.dumps({name: str(value) for name, value in (task.outputs or {}).items()})[:200])


def keras(pipeline_root: str) -> None:
    from kfp import local

    spec = importlib.util.spec_from_file_location("taxi_keras", PROJECT / "catalog/pipelines/taxi_tip_keras.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=pipeline_root)
    module.taxi_tip_keras(input_path=str(PROJECT / "examples/data/chicago_taxi_trips.csv"))


if __name__ == "__main__":
    {"wordcount": wordcount, "taxi": taxi, "keras": keras}[sys.argv[1]](sys.argv[2])
