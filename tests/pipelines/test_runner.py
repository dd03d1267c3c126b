"""The local-pipeline engine and its runner: the taxi trainer end to end, failures, cancel and S3."""

from __future__ import annotations

import json
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest
from sklearn.model_selection import train_test_split

from operatorflow import inference
from operatorflow.engines.base import EngineRun, EngineStatus
from operatorflow.engines.pipeline_local import make_local_pipeline_engine
from operatorflow.engines.process import LOG_FILE, OUTCOME_FILE, LocalProcessEngine
from operatorflow.errors import InvalidInput
from operatorflow.pipelines.loader import load_pipeline
from operatorflow.pipelines.runner import (
    check_no_pip_install,
    convert_parameters,
    find_failed_step,
    merge_metrics,
)
from operatorflow.settings import PROJECT_DIR, load_settings
from operatorflow.status import RunStatus
from operatorflow.storage import ObjectStores
from operatorflow.workflows import Catalog, Workflow, WorkflowKind
from tests.aws import MotoServer

TRIPS = PROJECT_DIR / "examples" / "data" / "chicago_taxi_trips.csv"
UNLABELLED = PROJECT_DIR / "examples" / "data" / "chicago_taxi_trips_unlabelled.csv"
WAIT_SECONDS = 300

SMALL_PIPELINES = '''
from kfp import dsl
from kfp.dsl import Dataset, Metrics, Output


@dsl.component(base_image="python:3.11", install_kfp_package=False)
def explode(text: str):
    print("about to fail on", text)
    raise ValueError("boom")


@dsl.component(base_image="python:3.11", install_kfp_package=False)
def sleep_long(pid_path: str):
    import os
    import time

    with open(pid_path, "w") as handle:
        handle.write(str(os.getpid()))
    time.sleep(120)


@dsl.component(base_image="python:3.11", install_kfp_package=False)
def count_rows(input_path: str, copy: Output[Dataset], metrics: Output[Metrics]):
    import os
    import shutil

    with open(input_path) as handle:
        rows = sum(1 for _ in handle) - 1
    os.makedirs(copy.path)
    shutil.copy(input_path, os.path.join(copy.path, "rows.csv"))
    metrics.log_metric("rows", rows)
'''

EXPLODING = SMALL_PIPELINES + '''

@dsl.pipeline(name="exploding")
def exploding(text: str = "hello"):
    explode(text=text)
'''

SLEEPING = SMALL_PIPELINES + '''

@dsl.pipeline(name="sleeping")
def sleeping(pid_path: str = ""):
    sleep_long(pid_path=pid_path)
'''

COUNTING = SMALL_PIPELINES + '''

@dsl.pipeline(name="counting")
def counting(input_path: str = ""):
    count_rows(input_path=input_path)
'''

TYPED = SMALL_PIPELINES + '''

@dsl.pipeline(name="typed")
def typed(input_path: str = "", limit: int = 10, ratio: float = 0.5, loud: bool = False,
          names: list = [], options: dict = {}, note: str = "", size: int = None):
    count_rows(input_path=input_path)
'''


def taxi_workflow(settings) -> Workflow:
    workflows = Catalog(settings.catalog_dir).list_workflows(WorkflowKind.PIPELINE)
    return next(w for w in workflows if w.name == "taxi-tip-trainer")


def file_workflow(tmp_path: Path, name: str, source: str) -> Workflow:
    path = tmp_path / f"{name}.py"
    path.write_text(source)
    return Workflow(name=name, kind=WorkflowKind.PIPELINE, path=path, engine="local-pipeline")


def submit(engine: LocalProcessEngine, workflow: Workflow, folder: Path, output_location: str = "",
           **parameters: str) -> tuple[str, EngineRun]:
    run = EngineRun(
        run_id=f"run-{workflow.name}",
        workflow=workflow,
        parameters={**{p.name: p.default for p in workflow.parameters}, **parameters},
        output_location=output_location or str(folder / "output"),
        run_dir=folder / "run",
    )
    return engine.submit_run(run), run


def wait_for_end(engine: LocalProcessEngine, engine_run_id: str, run: EngineRun) -> EngineStatus:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        # Sleep first, as the worker does between passes: during the child's exec its /proc
        # cmdline is empty, and the engine would take it for a process that ended.
        time.sleep(0.2)
        status = engine.get_run_status(engine_run_id, run)
        if status.status.is_terminal:
            return status
    engine.kill_run(engine_run_id, run)
    log = (run.run_dir / LOG_FILE).read_text()[-3000:]
    pytest.fail(f"Run {run.run_id} did not end within {WAIT_SECONDS} s; end of its log:\n{log}")


def process_running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def independent_split() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Clean, label and split the trips by the pipeline's documented rules, with code of its own."""
    trips = pd.read_csv(TRIPS)
    keep = (
        (trips["fare"] > 0)
        & trips["tips"].notna()
        & (trips["trip_seconds"] >= 0)
        & (trips["trip_miles"] >= 0)
    )
    cleaned = trips[keep].drop_duplicates()
    label = cleaned["tips"] > 0.2 * cleaned["fare"]
    train, test = train_test_split(cleaned, test_size=0.2, stratify=label, random_state=42)
    return cleaned, train, test


@pytest.fixture(scope="module")
def taxi_run(tmp_path_factory):
    """Train the taxi model once, through the engine, on the real trips file."""
    folder = tmp_path_factory.mktemp("taxi")
    settings = load_settings(home=folder / "home")
    engine = make_local_pipeline_engine(settings)
    engine_run_id, run = submit(engine, taxi_workflow(settings), folder)

    status = wait_for_end(engine, engine_run_id, run)

    return status, run


@pytest.mark.pipeline
def test_taxi_run_succeeds_with_metrics(taxi_run):
    status, run = taxi_run

    assert status.status is RunStatus.SUCCEEDED, status.error_message
    assert status.error_message is None
    assert {"accuracy", "auc", "rows_used", "train_rows", "test_rows", "majority_baseline"} <= set(status.metrics)
    assert json.loads((Path(run.output_location) / "metrics.json").read_text()) == status.metrics


@pytest.mark.pipeline
def test_taxi_metrics_match_independent_split(taxi_run):
    status, _ = taxi_run
    cleaned, train, test = independent_split()
    majority_class = (train["tips"] > 0.2 * train["fare"]).mean() >= 0.5
    baseline = ((test["tips"] > 0.2 * test["fare"]) == majority_class).mean()

    metrics = status.metrics

    assert metrics["rows_used"] == len(cleaned)
    assert metrics["train_rows"] == len(train)
    assert metrics["test_rows"] == len(test)
    assert metrics["majority_baseline"] == pytest.approx(baseline, abs=1e-6)
    assert metrics["accuracy"] > baseline
    assert 0.5 < metrics["auc"] <= 1.0


@pytest.mark.pipeline
def test_taxi_output_holds_model_and_artifacts(taxi_run):
    status, run = taxi_run
    output = Path(run.output_location)

    summary = json.loads(status.result)

    assert (output / "train-model" / "model" / "model.joblib").is_file()
    assert (output / "clean-trips" / "cleaned_trips" / "trips.csv").is_file()
    assert (output / "train-model" / "test_trips" / "trips.csv").is_file()
    assert summary["metrics"] == status.metrics
    assert f"{run.output_location}/train-model/model/model.joblib" in summary["artifacts"]
    assert f"{run.output_location}/metrics.json" in summary["artifacts"]
    assert all(Path(location).is_file() for location in summary["artifacts"])


@pytest.mark.pipeline
def test_taxi_model_metadata_keeps_tips_out_of_features(taxi_run):
    _, run = taxi_run

    metadata = json.loads((Path(run.output_location) / "train-model" / "model" / "metadata.json").read_text())

    assert "tips" not in metadata["feature_columns"]
    assert "big_tipper" not in metadata["feature_columns"]
    assert {"payment_type", "company", "fare", "trip_miles"} <= set(metadata["feature_columns"])
    assert metadata["label_rule"] == "tips > 0.2 * fare"
    assert set(metadata["library_versions"]) >= {"scikit-learn", "pandas", "python"}


@pytest.mark.pipeline
def test_model_from_run_predicts_unlabelled_trips(taxi_run):
    _, run = taxi_run
    model = inference.load_model(ObjectStores(PROJECT_DIR), run.output_location)

    predictions = inference.predict(model, inference.read_upload(UNLABELLED.read_bytes(), model))

    assert len(predictions) == 3604
    assert predictions["big_tipper_probability"].between(0, 1).all()


@pytest.mark.pipeline
def test_failing_step_names_step_and_error(tmp_path):
    engine = make_local_pipeline_engine(load_settings(home=tmp_path / "home"))
    engine_run_id, run = submit(engine, file_workflow(tmp_path, "exploding", EXPLODING), tmp_path)

    status = wait_for_end(engine, engine_run_id, run)

    assert status.status is RunStatus.FAILED
    assert status.error_message == (
        "Step explode of pipeline exploding failed: ValueError: boom. See the run log for the full output."
    )
    assert 'raise ValueError("boom")' in (run.run_dir / LOG_FILE).read_text()


@pytest.mark.pipeline
def test_missing_input_file_fails_clearly(tmp_path):
    settings = load_settings(home=tmp_path / "home")
    engine = make_local_pipeline_engine(settings)
    engine_run_id, run = submit(
        engine, taxi_workflow(settings), tmp_path, input_path="examples/data/no_such_trips.csv"
    )

    status = wait_for_end(engine, engine_run_id, run)

    assert status.status is RunStatus.FAILED
    assert status.error_message == (
        "Step clean-trips of pipeline taxi-tip-trainer failed: FileNotFoundError: Input file "
        f"{PROJECT_DIR}/examples/data/no_such_trips.csv does not exist: set input_path to a CSV of taxi "
        "trips, such as examples/data/chicago_taxi_trips.csv. See the run log for the full output."
    )


@pytest.mark.pipeline
def test_bad_parameter_fails_before_any_step(tmp_path):
    settings = load_settings(home=tmp_path / "home")
    engine = make_local_pipeline_engine(settings)
    engine_run_id, run = submit(engine, taxi_workflow(settings), tmp_path, seed="forty-two")

    status = wait_for_end(engine, engine_run_id, run)

    assert status.status is RunStatus.FAILED
    assert status.error_message == (
        "Invalid value 'forty-two' for parameter seed of pipeline taxi-tip-trainer: "
        "expected a whole number, such as 42."
    )
    assert not (run.run_dir / "pipeline_root").exists()


@pytest.mark.pipeline
def test_cancel_stops_runner_and_step_process(tmp_path):
    engine = make_local_pipeline_engine(load_settings(home=tmp_path / "home"))
    pid_file = tmp_path / "step.pid"
    engine_run_id, run = submit(
        engine, file_workflow(tmp_path, "sleeping", SLEEPING), tmp_path, pid_path=str(pid_file)
    )
    deadline = time.monotonic() + 60
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline, (run.run_dir / LOG_FILE).read_text()[-3000:]
        time.sleep(0.1)
    step_pid = int(pid_file.read_text())

    engine.cancel_run(engine_run_id, run)
    status = wait_for_end(engine, engine_run_id, run)

    assert status.status is RunStatus.CANCELED
    assert json.loads((run.run_dir / OUTCOME_FILE).read_text())["status"] == "CANCELED"
    deadline = time.monotonic() + 10
    while process_running(step_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not process_running(step_pid)


@pytest.mark.pipeline
def test_s3_input_is_staged_and_output_uploaded(tmp_path):
    moto = MotoServer().start()
    try:
        s3 = moto.client("s3")
        s3.create_bucket(Bucket="trips")
        s3.put_object(Bucket="trips", Key="in/rows.csv", Body=b"a,b\n1,2\n3,4\n5,6\n")
        engine = make_local_pipeline_engine(load_settings(home=tmp_path / "home", s3_endpoint_url=moto.endpoint_url))
        engine_run_id, run = submit(
            engine, file_workflow(tmp_path, "counting", COUNTING), tmp_path,
            output_location="s3://trips/out", input_path="s3://trips/in/rows.csv",
        )

        status = wait_for_end(engine, engine_run_id, run)
        keys = sorted(item["Key"] for item in s3.list_objects_v2(Bucket="trips", Prefix="out/")["Contents"])
        metrics = json.loads(s3.get_object(Bucket="trips", Key="out/metrics.json")["Body"].read())
    finally:
        moto.stop()

    assert status.status is RunStatus.SUCCEEDED, status.error_message
    assert keys == ["out/count-rows/copy/rows.csv", "out/metrics.json"]
    assert metrics == {"rows": 3}
    assert json.loads(status.result)["artifacts"] == ["s3://trips/out/count-rows/copy/rows.csv", "s3://trips/out/metrics.json"]


@pytest.fixture(scope="module")
def typed_pipeline(tmp_path_factory):
    path = tmp_path_factory.mktemp("typed") / "typed.py"
    path.write_text(TYPED)
    return load_pipeline(path)


def test_parameters_converted_to_declared_types(typed_pipeline, tmp_path):
    values = {
        "input_path": "data/rows.csv", "limit": " 7 ", "ratio": "1e-3", "loud": "True",
        "names": '["a", "b"]', "options": '{"k": 1}', "note": " kept as typed ", "size": "12",
    }

    arguments = convert_parameters("typed", typed_pipeline, values, tmp_path)

    assert arguments == {
        "input_path": str(tmp_path / "data" / "rows.csv"), "limit": 7, "ratio": 0.001, "loud": True,
        "names": ["a", "b"], "options": {"k": 1}, "note": " kept as typed ", "size": 12,
    }


def test_empty_value_means_pipeline_default(typed_pipeline, tmp_path):
    arguments = convert_parameters("typed", typed_pipeline, {"limit": "", "ratio": " ", "note": ""}, tmp_path)

    assert arguments == {"note": ""}


def test_empty_value_without_default_rejected(typed_pipeline, tmp_path):
    with pytest.raises(InvalidInput) as raised:
        convert_parameters("typed", typed_pipeline, {"size": ""}, tmp_path)

    assert str(raised.value) == "Parameter size of pipeline typed needs a value: expected a whole number, such as 42."


@pytest.mark.parametrize("location", ["s3://bucket/rows.csv", "/data/rows.csv"])
def test_remote_and_absolute_paths_kept(typed_pipeline, tmp_path, location):
    arguments = convert_parameters("typed", typed_pipeline, {"input_path": location}, tmp_path)

    assert arguments == {"input_path": location}


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("limit", "7.5", "expected a whole number, such as 42"),
        ("ratio", "half", "expected a number, such as 0.2"),
        ("loud", "maybe", "expected true or false"),
        ("names", '{"a": 1}', 'expected a JSON list, such as ["a", "b"]'),
        ("options", "[1", 'expected a JSON object, such as {"key": 1}'),
    ],
)
def test_invalid_parameter_value_rejected(typed_pipeline, tmp_path, name, value, expected):
    with pytest.raises(InvalidInput) as raised:
        convert_parameters("typed", typed_pipeline, {name: value}, tmp_path)

    assert str(raised.value) == f"Invalid value {value!r} for parameter {name} of pipeline typed: {expected}."


def test_pipeline_without_parameters_rejects_any(tmp_path):
    path = tmp_path / "no_inputs.py"
    path.write_text(SMALL_PIPELINES + '''

@dsl.pipeline(name="no-inputs")
def no_inputs():
    explode(text="fixed")
''')
    pipeline = load_pipeline(path)

    with pytest.raises(InvalidInput) as raised:
        convert_parameters("no-inputs", pipeline, {"text": "a"}, tmp_path)

    assert convert_parameters("no-inputs", pipeline, {}, tmp_path) == {}
    assert str(raised.value) == "Unknown parameter(s) text for pipeline no-inputs. It accepts: none."


def test_unknown_parameter_rejected(typed_pipeline, tmp_path):
    with pytest.raises(InvalidInput) as raised:
        convert_parameters("typed", typed_pipeline, {"colour": "red"}, tmp_path)

    assert str(raised.value) == (
        "Unknown parameter(s) colour for pipeline typed. It accepts: "
        "input_path, limit, ratio, loud, names, options, note, size."
    )


def test_steps_that_pip_install_rejected(tmp_path):
    path = tmp_path / "installing.py"
    path.write_text(textwrap.dedent('''
        from kfp import dsl


        @dsl.component(base_image="python:3.11")
        def with_kfp(text: str):
            print(text)


        @dsl.component(base_image="python:3.11", install_kfp_package=False, packages_to_install=["requests"])
        def with_requests(text: str):
            print(text)


        @dsl.component(base_image="python:3.11", install_kfp_package=False)
        def mentions_pip(text: str):
            print("pip install is only text here", text)


        @dsl.pipeline(name="installing")
        def installing(text: str = "a"):
            with_kfp(text=text)
            with_requests(text=text)
            mentions_pip(text=text)
        '''))

    with pytest.raises(InvalidInput) as raised:
        check_no_pip_install("installing", load_pipeline(path))

    assert str(raised.value) == (
        "Step(s) with-kfp, with-requests of pipeline installing would pip-install packages into the app's "
        "environment: in their @dsl.component, set install_kfp_package=False and remove packages_to_install. "
        "Local runs use the packages installed with OperatorFlow."
    )


def test_taxi_pipeline_installs_nothing():
    check_no_pip_install("taxi-tip-trainer", load_pipeline(PROJECT_DIR / "catalog" / "pipelines" / "taxi_tip_trainer.py"))


def test_failed_step_without_traceback_reports_last_line():
    lines = [
        "12:00:00.000 - INFO - Executing task 'fetch'",
        "12:00:00.001 - INFO - Streamed logs:",
        "",
        "    sh: 1: curl: not found",
        "",
        "12:00:00.100 - ERROR - Task 'fetch' finished with status FAILURE",
    ]

    assert find_failed_step(lines) == ("fetch", "sh: 1: curl: not found")


def test_failed_step_reports_last_exception_of_chain():
    lines = [
        "Executing task 'train'",
        "    Traceback (most recent call last):",
        '      File "step.py", line 3, in train',
        "    KeyError: 'fare'",
        "    ",
        "    The above exception was the direct cause of the following exception:",
        "    ",
        "    Traceback (most recent call last):",
        '      File "step.py", line 5, in train',
        "    ValueError: no fare column",
        "    second line of the message",
        "Task 'train' finished with status FAILURE",
    ]

    assert find_failed_step(lines) == ("train", "ValueError: no fare column")


def test_metrics_of_several_steps_merged():
    step_metrics = {"evaluate": {"accuracy": 0.9, "rows": 10}, "validate": {"rows": 12}}

    assert merge_metrics(step_metrics) == {"accuracy": 0.9, "evaluate.rows": 10, "validate.rows": 12}
