"""SparkFlow page: notebook catalog, queueing a run, following it, its result or error."""

from __future__ import annotations

from operatorflow.status import RunStatus
from tests.pages.conftest import USER, errors, finish_run, open_page, run

WORD_COUNT = "shakespeare-wordcount"
RESULT = {
    "top_words": [{"word": "the", "count": 5437}, {"word": "and", "count": 3958}, {"word": "i", "count": 3118}],
    "total_words": 202651,
    "distinct_words": 12848,
}


def catalog(at):
    return at.dataframe[0].value.set_index("notebook")


def test_catalog_lists_word_count_available(signed_in_app):
    open_page(signed_in_app, "sparkflow")

    assert catalog(signed_in_app).loc[WORD_COUNT, "status"] == "AVAILABLE"
    assert signed_in_app.selectbox(key="sparkflow_notebook").value == WORD_COUNT
    assert signed_in_app.text_input(key=f"sparkflow_param_{WORD_COUNT}_input_path").value == (
        "examples/data/tinyshakespeare.txt"
    )


def test_run_button_queues_run_for_user(signed_in_app, service):
    open_page(signed_in_app, "sparkflow")
    signed_in_app.text_input(key=f"sparkflow_param_{WORD_COUNT}_top_n").set_value("5")

    signed_in_app.button(key="FormSubmitter:sparkflow_run_form-Run").click()
    run(signed_in_app)

    [queued] = service.list_runs(USER)
    assert queued.workflow == WORD_COUNT
    assert queued.status is RunStatus.QUEUED
    assert queued.parameters == {"input_path": "examples/data/tinyshakespeare.txt", "top_n": "5"}
    assert [s.value for s in signed_in_app.success] == [f"Run {queued.id} of {WORD_COUNT} is queued."]
    assert signed_in_app.selectbox(key="sparkflow_selected_run").value == queued.id
    assert "is QUEUED; this view refreshes by itself" in signed_in_app.info[0].value


def test_catalog_shows_running_while_run_active(signed_in_app, service):
    service.submit_run(USER, WORD_COUNT, {})

    open_page(signed_in_app, "sparkflow")

    assert catalog(signed_in_app).loc[WORD_COUNT, "status"] == "RUNNING"


def test_succeeded_run_shows_top_words_table_and_chart(signed_in_app, service):
    submitted = service.submit_run(USER, WORD_COUNT, {"top_n": "3"})
    finish_run(service, submitted.id, RunStatus.SUCCEEDED, result=RESULT, log="word count done\n")

    open_page(signed_in_app, "sparkflow")

    words = signed_in_app.dataframe[-1].value
    assert words["word"].tolist() == ["the", "and", "i"]
    assert words["count"].tolist() == [5437, 3958, 3118]
    assert len(signed_in_app.get("plotly_chart")) == 1
    assert [m.value for m in signed_in_app.metric] == ["202,651", "12,848"]
    assert "word count done" in signed_in_app.code[-1].value
    assert errors(signed_in_app) == []


def test_failed_run_shows_its_error(signed_in_app, service):
    submitted = service.submit_run(USER, WORD_COUNT, {})
    finish_run(service, submitted.id, RunStatus.FAILED,
               error_message="Input file examples/data/missing.txt does not exist.")

    open_page(signed_in_app, "sparkflow")

    assert errors(signed_in_app) == [
        f"Run {submitted.id} failed: Input file examples/data/missing.txt does not exist."
    ]
    assert signed_in_app.get("plotly_chart") == []


def test_cancel_button_cancels_queued_run(signed_in_app, service):
    submitted = service.submit_run(USER, WORD_COUNT, {})
    open_page(signed_in_app, "sparkflow")

    signed_in_app.button(key=f"sparkflow_cancel_{submitted.id}").click()
    run(signed_in_app)

    assert service.get_run(USER, submitted.id).status is RunStatus.CANCELED
    assert catalog(signed_in_app).loc[WORD_COUNT, "status"] == "AVAILABLE"
    assert signed_in_app.warning[0].value == f"Run {submitted.id} was canceled. Canceled before it started."


def test_selecting_older_run_shows_its_details(signed_in_app, service):
    older = service.submit_run(USER, WORD_COUNT, {})
    finish_run(service, older.id, RunStatus.FAILED, error_message="first attempt failed")
    newer = service.submit_run(USER, WORD_COUNT, {})
    open_page(signed_in_app, "sparkflow")
    assert signed_in_app.selectbox(key="sparkflow_selected_run").value == newer.id

    signed_in_app.selectbox(key="sparkflow_selected_run").set_value(older.id)
    run(signed_in_app)

    assert errors(signed_in_app) == [f"Run {older.id} failed: first attempt failed"]


def test_other_users_runs_are_not_listed(signed_in_app, service):
    service.submit_run("grace", WORD_COUNT, {})

    open_page(signed_in_app, "sparkflow")

    assert catalog(signed_in_app).loc[WORD_COUNT, "status"] == "AVAILABLE"
    assert signed_in_app.info[-1].value == "No runs yet: set the parameters and press Run."


def test_unreadable_notebook_is_shown_with_reason(app_env, monkeypatch, tmp_path):
    import shutil

    from streamlit.testing.v1 import AppTest

    from tests.pages.conftest import HOME_SCRIPT, PASSWORD, confirm_from_outbox, register, sign_in

    catalog_dir = tmp_path / "catalog"
    shutil.copytree(app_env.catalog_dir, catalog_dir)
    (catalog_dir / "notebooks" / "broken_notes.py").write_text("print('no header')\n")
    monkeypatch.setenv("OPERATORFLOW_CATALOG_DIR", str(catalog_dir))
    at = run(AppTest.from_file(str(HOME_SCRIPT), default_timeout=60))
    register(at, USER, PASSWORD)
    confirm_from_outbox(at, app_env)
    sign_in(at, USER, PASSWORD)

    open_page(at, "sparkflow")

    warnings = [w.value for w in at.warning]
    assert any(w.startswith("broken-notes cannot be run:") and "broken_notes.py" in w for w in warnings)
    assert "broken-notes" not in catalog(at).index
