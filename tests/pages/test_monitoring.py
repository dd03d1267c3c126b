"""Monitoring page: the user's runs by group, never another user's, and the charts."""

from __future__ import annotations

from operatorflow.status import RunStatus
from tests.pages.conftest import USER, finish_run, open_page

WORD_COUNT = "shakespeare-wordcount"
TRAINER = "taxi-tip-trainer"


def group_tables(at) -> dict[str, list[str]]:
    """Return run ids per group; each group with runs has one table, in the order of the subheaders."""
    tables = iter(at.dataframe)
    groups = {}
    for header in at.subheader:
        title, count = header.value.split(" (")
        groups[title.lower()] = next(tables).value["run"].tolist() if count != "0)" else []
    return groups


def test_runs_appear_in_their_groups(signed_in_app, service):
    succeeded = service.submit_run(USER, WORD_COUNT, {})
    finish_run(service, succeeded.id, RunStatus.SUCCEEDED, result={"top_words": []})
    failed = service.submit_run(USER, TRAINER, {})
    finish_run(service, failed.id, RunStatus.FAILED, error_message="broken")
    running = service.submit_run(USER, TRAINER, {})
    finish_run(service, running.id, RunStatus.RUNNING)
    queued = service.submit_run(USER, WORD_COUNT, {})

    open_page(signed_in_app, "monitoring")

    assert group_tables(signed_in_app) == {
        "queued": [queued.id],
        "running": [running.id],
        "finished": [failed.id, succeeded.id],
    }
    assert [h.value for h in signed_in_app.subheader] == ["Queued (1)", "Running (1)", "Finished (2)"]


def test_other_users_runs_never_appear(signed_in_app, service):
    own = service.submit_run(USER, WORD_COUNT, {})
    service.submit_run("grace", WORD_COUNT, {})
    service.submit_run("grace", TRAINER, {})

    open_page(signed_in_app, "monitoring")

    assert group_tables(signed_in_app) == {"queued": [own.id], "running": [], "finished": []}


def test_charts_render_for_finished_runs(signed_in_app, service):
    for workflow in (WORD_COUNT, TRAINER):
        submitted = service.submit_run(USER, workflow, {})
        finish_run(service, submitted.id, RunStatus.SUCCEEDED)

    open_page(signed_in_app, "monitoring")

    charts = signed_in_app.get("plotly_chart")
    assert len(charts) == 2


def test_no_runs_shows_hint(signed_in_app):
    open_page(signed_in_app, "monitoring")

    assert signed_in_app.info[0].value == "You have no runs yet: start one on the SparkFlow or KubeFlow page."
    assert signed_in_app.get("plotly_chart") == []
