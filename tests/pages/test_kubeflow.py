"""KubeFlow page: pipeline choice, locations prefilled, queueing a run, metrics and outputs of a finished one."""

from __future__ import annotations

from pathlib import Path

from operatorflow.status import RunStatus
from tests.pages.conftest import USER, errors, finish_run, open_page, run

TRAINER = "taxi-tip-trainer"
KERAS = "taxi-tip-keras"
RUN_BUTTON = "FormSubmitter:kubeflow_run_form-Run"


def open_trainer(at):
    """Open the KubeFlow page with taxi-tip-trainer picked; taxi-tip-keras comes first in the list."""
    open_page(at, "kubeflow")
    at.selectbox(key="kubeflow_pipeline").set_value(TRAINER)
    return run(at)


def test_pipeline_dropdown_and_prefilled_locations(signed_in_app, service):
    open_trainer(signed_in_app)

    assert signed_in_app.selectbox(key="kubeflow_pipeline").options == [KERAS, TRAINER]
    assert signed_in_app.text_input(key=f"kubeflow_param_{TRAINER}_input_path").value == (
        "examples/data/chicago_taxi_trips.csv"
    )
    assert signed_in_app.text_input(key=f"kubeflow_output_{TRAINER}").value == (
        service.default_output_location(TRAINER)
    )
    assert signed_in_app.text_input(key=f"kubeflow_param_{TRAINER}_seed").value == "42"


def test_run_queues_with_given_locations(signed_in_app, service, tmp_path):
    open_trainer(signed_in_app)
    output = tmp_path / "models" / "{run_id}"
    signed_in_app.text_input(key=f"kubeflow_param_{TRAINER}_input_path").set_value("examples/data/other.csv")
    signed_in_app.text_input(key=f"kubeflow_output_{TRAINER}").set_value(str(output))
    signed_in_app.text_input(key=f"kubeflow_param_{TRAINER}_test_fraction").set_value("0.3")

    signed_in_app.button(key=RUN_BUTTON).click()
    run(signed_in_app)

    [queued] = service.list_runs(USER)
    assert queued.workflow == TRAINER
    assert queued.parameters == {"input_path": "examples/data/other.csv", "test_fraction": "0.3", "seed": "42"}
    assert queued.output_location == str(tmp_path / "models" / queued.id)
    assert [s.value for s in signed_in_app.success] == [
        f"Run {queued.id} of {TRAINER} is queued; its outputs go to {queued.output_location}."
    ]


def test_bad_output_location_shows_error(signed_in_app, service):
    open_trainer(signed_in_app)
    signed_in_app.text_input(key=f"kubeflow_output_{TRAINER}").set_value("ftp://models/out")

    signed_in_app.button(key=RUN_BUTTON).click()
    run(signed_in_app)

    assert errors(signed_in_app) == [
        "Unsupported location scheme ftp:// in 'ftp://models/out': use s3://bucket/key or a local path."
    ]
    assert service.list_runs(USER) == []


def test_succeeded_run_shows_metrics_and_outputs(signed_in_app, service):
    submitted = service.submit_run(USER, TRAINER, {})
    output = Path(submitted.output_location)
    (output / "train-model" / "model").mkdir(parents=True)
    (output / "train-model" / "model" / "model.joblib").write_bytes(b"model")
    (output / "metrics.json").write_text("{}", encoding="utf-8")
    finish_run(service, submitted.id, RunStatus.SUCCEEDED,
               metrics={"accuracy": 0.91234, "auc": 0.95, "rows_used": 14000, "rows_dropped": 1002})

    open_trainer(signed_in_app)

    assert [(m.label, m.value) for m in signed_in_app.metric] == [
        ("Accuracy", "0.912"), ("AUC", "0.950"), ("Rows used", "14,000")
    ]
    objects = signed_in_app.dataframe[-1].value
    assert objects["object"].tolist() == ["metrics.json", "train-model/model/model.joblib"]
    assert objects["location"].tolist() == [
        f"{submitted.output_location}/metrics.json",
        f"{submitted.output_location}/train-model/model/model.joblib",
    ]
    assert errors(signed_in_app) == []


def test_failed_pipeline_run_shows_its_error(signed_in_app, service):
    submitted = service.submit_run(USER, TRAINER, {})
    finish_run(service, submitted.id, RunStatus.FAILED, error_message="Step clean-trips failed.")

    open_trainer(signed_in_app)

    assert errors(signed_in_app) == [f"Run {submitted.id} failed: Step clean-trips failed."]
