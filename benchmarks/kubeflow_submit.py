"""Time the kubeflow engine against the fake server: compile and create a catalog pipeline run, then one poll.

Usage: `.venv/bin/python benchmarks/kubeflow_submit.py --repeat 10`. The fake runs on 127.0.0.1 in
this process, so the figures are the engine's and kfp.Client's own cost without network latency.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from operatorflow.engines.base import EngineRun  # noqa: E402
from operatorflow.engines.kubeflow import KubeflowEngine  # noqa: E402
from operatorflow.settings import load_settings  # noqa: E402
from operatorflow.workflows import Catalog  # noqa: E402
from tests.kfp_fake import TOKEN, FakeKubeflow  # noqa: E402

MAX_REPEAT = 50


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=10, help=f"runs to submit (at most {MAX_REPEAT})")
    args = parser.parse_args()
    repeat = max(1, min(args.repeat, MAX_REPEAT))

    fake = FakeKubeflow()
    fake.start()
    try:
        with tempfile.TemporaryDirectory() as home:
            settings = load_settings(home=Path(home), kubeflow_host=fake.host, kubeflow_token=TOKEN,
                                     kubeflow_namespace="kubeflow-user-{user}", worker="none")
            engine = KubeflowEngine(settings, default_token_file="/nonexistent")
            workflow = Catalog(settings.catalog_dir).get_workflow("taxi-tip-trainer")
            submits, polls = [], []
            for index in range(repeat):
                run = EngineRun(f"bench{index:04d}", workflow, {"input_path": "s3://data/trips.csv"},
                                "s3://models/out", Path(home) / "runs" / f"bench{index:04d}", owner="ada")
                started = time.perf_counter()
                engine_run_id = engine.submit_run(run)
                submits.append(time.perf_counter() - started)
                started = time.perf_counter()
                engine.get_run_status(engine_run_id, run)
                polls.append(time.perf_counter() - started)
    finally:
        fake.stop()

    for label, values in (("submit (first includes client build)", submits[:1]),
                          ("submit (later)", submits[1:] or submits), ("status poll", polls)):
        print(f"{label:<38} median {statistics.median(values) * 1000:7.1f} ms  "
              f"min {min(values) * 1000:7.1f} ms  max {max(values) * 1000:7.1f} ms  n={len(values)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
