"""The notebook runner through the local-spark engine: word count end to end, failures, cancel and S3."""

from __future__ import annotations

import collections
import csv
import json
import re
import textwrap
import time
from pathlib import Path

import pytest

from operatorflow.engines.base import EngineRun, EngineStatus
from operatorflow.engines.process import LOG_FILE, LocalProcessEngine
from operatorflow.engines.spark_local import make_local_spark_engine
from operatorflow.notebooks.parser import describe_notebook
from operatorflow.notebooks.runner import split_sql_statements
from operatorflow.settings import PROJECT_DIR, Settings
from operatorflow.status import RunStatus
from operatorflow.workflows import Workflow, WorkflowKind, workflow_name
from tests.aws import MotoServer

WORDCOUNT = PROJECT_DIR / "catalog" / "notebooks" / "shakespeare_wordcount.py"
SHAKESPEARE = PROJECT_DIR / "examples" / "data" / "tinyshakespeare.txt"
WAIT_SECONDS = 120
SPARK_STARTED = "Spark start session"


def independent_word_counts(path: Path) -> collections.Counter:
    """Count words by the rule in the notebook's description, in plain Python."""
    counts: collections.Counter = collections.Counter()
    for token in re.findall(r"[a-z']+", path.read_text().lower()):
        word = token.strip("'")
        if word:
            counts[word] += 1
    return counts


def notebook_workflow(path: Path, parse: bool = True) -> Workflow:
    description, parameters = describe_notebook(path) if parse else ("", [])
    return Workflow(
        name=workflow_name(path),
        kind=WorkflowKind.NOTEBOOK,
        path=path,
        engine="local-spark",
        description=description,
        parameters=tuple(parameters),
    )


def write_notebook(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text("# Databricks notebook source\n" + textwrap.dedent(text))
    return path


def make_engine(home: Path, s3_endpoint_url: str = "", spark_master: str = "local[2]") -> LocalProcessEngine:
    settings = Settings(home=home, project_dir=PROJECT_DIR, spark_master=spark_master,
                        spark_driver_memory="1g", s3_endpoint_url=s3_endpoint_url)
    return make_local_spark_engine(settings)


def make_run(workflow: Workflow, folder: Path, parameters: dict[str, str] | None = None,
             output_location: str | None = None) -> EngineRun:
    if workflow.parameters:
        run_parameters = workflow.resolve_parameters(parameters or {})
    else:
        run_parameters = dict(parameters or {})
    return EngineRun(
        run_id=folder.name,
        workflow=workflow,
        parameters=run_parameters,
        output_location=output_location or str(folder / "output"),
        run_dir=folder / "run",
    )


def wait_for_end(engine: LocalProcessEngine, engine_run_id: str, run: EngineRun) -> EngineStatus:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        # Sleep before polling, as the worker does: just after the start /proc may not show the
        # child's command line yet, and the engine would then report the run as ended.
        time.sleep(0.2)
        status = engine.get_run_status(engine_run_id, run)
        if status.status.is_terminal:
            return status
    engine.kill_run(engine_run_id, run)
    pytest.fail(f"Run {run.run_id} did not end within {WAIT_SECONDS} s; log:\n{read_log(run)}")


def wait_for_log(run: EngineRun, text: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if text in read_log(run):
            return
        time.sleep(0.1)
    pytest.fail(f"Run {run.run_id} never logged {text!r}; log:\n{read_log(run)}")


def read_log(run: EngineRun) -> str:
    path = run.run_dir / LOG_FILE
    return path.read_text() if path.exists() else ""


def run_to_end(folder: Path, workflow: Workflow, parameters: dict[str, str] | None = None,
               **engine_options) -> tuple[EngineStatus, EngineRun]:
    engine = make_engine(folder / "home", **engine_options)
    run = make_run(workflow, folder, parameters)
    engine_run_id = engine.submit_run(run)
    return wait_for_end(engine, engine_run_id, run), run


@pytest.fixture(scope="module")
def wordcount(tmp_path_factory):
    """The real word count over the real text, run once for the module."""
    folder = tmp_path_factory.mktemp("wordcount")
    engine = make_engine(folder / "home")
    run = make_run(notebook_workflow(WORDCOUNT), folder)

    started = time.monotonic()
    engine_run_id = engine.submit_run(run)
    status = wait_for_end(engine, engine_run_id, run)
    print(f"word count: {status.status} after {time.monotonic() - started:.1f} s")
    return status, run


@pytest.mark.spark
def test_wordcount_succeeds(wordcount):
    status, run = wordcount

    assert status.status == RunStatus.SUCCEEDED, read_log(run)
    assert status.error_message is None


@pytest.mark.spark
def test_wordcount_top_words_match_independent_count(wordcount):
    status, _ = wordcount
    expected = sorted(independent_word_counts(SHAKESPEARE).items(), key=lambda item: (-item[1], item[0]))

    result = json.loads(status.result)

    assert len(result["top_words"]) == 20
    assert [(entry["word"], entry["count"]) for entry in result["top_words"][:10]] == expected[:10]


@pytest.mark.spark
def test_wordcount_totals_match_independent_count(wordcount):
    status, _ = wordcount
    expected = independent_word_counts(SHAKESPEARE)

    result = json.loads(status.result)

    assert result["total_words"] == sum(expected.values())
    assert result["distinct_words"] == len(expected)


@pytest.mark.spark
def test_wordcount_writes_csv_of_all_counts(wordcount):
    _, run = wordcount
    csv_files = sorted(Path(run.output_location, "word_counts").glob("part-*.csv"))

    with open(csv_files[0], newline="") as handle:
        rows = list(csv.DictReader(handle))

    assert len(csv_files) == 1
    assert {row["word"]: int(row["count"]) for row in rows} == dict(independent_word_counts(SHAKESPEARE))
    assert [int(row["count"]) for row in rows] == sorted((int(row["count"]) for row in rows), reverse=True)


@pytest.mark.spark
def test_wordcount_logs_cells_and_spark_start(wordcount):
    _, run = wordcount

    log = read_log(run)

    assert "=== cell 2 (python) ===" in log
    assert "=== cell 6 (python) ===" in log
    assert f"{SPARK_STARTED} for run {run.run_id}: master local[2], driver memory 1g" in log


@pytest.mark.spark
def test_wordcount_missing_input_fails(tmp_path):
    workflow = notebook_workflow(WORDCOUNT)

    status, run = run_to_end(tmp_path, workflow, {"input_path": "examples/data/no_such_file.txt"})

    assert status.status == RunStatus.FAILED
    assert status.error_message == (
        f"Cell 4 (python), line 3, failed: Input not found: {PROJECT_DIR}/examples/data/no_such_file.txt. "
        "Check the input_path parameter."
    )
    assert "Traceback (most recent call last)" in read_log(run)


def test_wordcount_text_top_n_fails_early(tmp_path):
    workflow = notebook_workflow(WORDCOUNT)

    status, run = run_to_end(tmp_path, workflow, {"top_n": "ten"})

    assert status.status == RunStatus.FAILED
    assert status.error_message == (
        "Cell 3 (python), line 13, failed: ValueError: top_n must be a positive integer from 1 to 1000, "
        "such as 20; got 'ten'."
    )
    assert SPARK_STARTED not in read_log(run)


def test_wordcount_zero_top_n_fails(tmp_path):
    workflow = notebook_workflow(WORDCOUNT)

    status, _ = run_to_end(tmp_path, workflow, {"top_n": "0"})

    assert status.status == RunStatus.FAILED
    assert status.error_message.endswith("ValueError: top_n must be a positive integer from 1 to 1000, "
                                         "such as 20; got '0'.")


def test_cell_error_names_cell_line_and_error(tmp_path):
    path = write_notebook(tmp_path, "explode.py", """\
        values = [1, 2]

        # COMMAND ----------

        total = sum(values)
        ratio = total / (len(values) - 2)
        """)

    status, run = run_to_end(tmp_path, notebook_workflow(path))

    assert status.status == RunStatus.FAILED
    assert status.error_message == "Cell 2 (python), line 2, failed: ZeroDivisionError: division by zero"
    assert 'File "<cell 2>", line 2' in read_log(run)
    assert "ratio = total / (len(values) - 2)" in read_log(run)


def test_malformed_notebook_fails_with_reason(tmp_path):
    path = tmp_path / "plain.py"
    path.write_text("print('no header')\n")

    status, _ = run_to_end(tmp_path, notebook_workflow(path, parse=False))

    assert status.status == RunStatus.FAILED
    assert status.error_message.startswith(
        f"Invalid notebook {path}: a .py notebook must start with the line '# Databricks notebook source'."
    )


def test_run_cell_fails_before_any_cell_runs(tmp_path):
    path = write_notebook(tmp_path, "includes.py", """\
        print("first cell ran")

        # COMMAND ----------

        # MAGIC %run ./shared/setup
        """)

    status, run = run_to_end(tmp_path, notebook_workflow(path))

    assert status.status == RunStatus.FAILED
    assert status.error_message == (
        f"Cell 2 of {path} (%run ./shared/setup) is not supported by the local engine yet: "
        "inline the notebook or use a Python import."
    )
    assert "first cell ran" not in read_log(run)


def test_undeclared_widget_fails_with_declared_names(tmp_path):
    path = write_notebook(tmp_path, "typo.py", """\
        dbutils.widgets.text("top_n", "20")
        value = dbutils.widgets.get("topn")
        """)

    status, _ = run_to_end(tmp_path, notebook_workflow(path))

    assert status.status == RunStatus.FAILED
    assert status.error_message == (
        "Cell 1 (python), line 2, failed: InputWidgetNotDefined: Widget 'topn' is not declared; "
        "declared widgets: top_n. Declare it first, for example dbutils.widgets.text('topn', \"\")."
    )


def test_python_notebook_exits_without_spark(tmp_path):
    path = write_notebook(tmp_path, "greet.py", """\
        dbutils.widgets.text("name", "world")
        dbutils.widgets.text("output_path", "")

        # COMMAND ----------

        from pathlib import Path

        greeting = f"hello {dbutils.widgets.get('name')}"
        Path(dbutils.widgets.get("output_path"), "greeting.txt").write_text(greeting)
        try:
            dbutils.notebook.exit(greeting)
        except Exception:
            dbutils.notebook.exit("the exit was caught")

        # COMMAND ----------

        raise RuntimeError("cells after the exit must not run")
        """)

    status, run = run_to_end(tmp_path, notebook_workflow(path), {"name": "Ada"})

    assert status.status == RunStatus.SUCCEEDED, read_log(run)
    assert status.result == "hello Ada"
    assert Path(run.output_location, "greeting.txt").read_text() == "hello Ada"
    assert SPARK_STARTED not in read_log(run)


def test_sys_exit_fails_with_advice(tmp_path):
    path = write_notebook(tmp_path, "quits.py", """\
        import sys

        sys.exit(0)
        """)

    status, _ = run_to_end(tmp_path, notebook_workflow(path))

    assert status.status == RunStatus.FAILED
    assert status.error_message == (
        "Cell 1 (python) called sys.exit(0): use dbutils.notebook.exit(value) to end a notebook early."
    )


def test_helper_module_next_to_notebook_imports(tmp_path):
    (tmp_path / "text_helpers.py").write_text("def shout(text):\n    return text.upper() + '!'\n")
    path = write_notebook(tmp_path, "uses_helper.py", """\
        from text_helpers import shout

        dbutils.notebook.exit(shout("hello"))
        """)

    status, run = run_to_end(tmp_path, notebook_workflow(path))

    assert status.status == RunStatus.SUCCEEDED, read_log(run)
    assert status.result == "HELLO!"


def test_notebook_without_exit_succeeds_with_no_result(tmp_path):
    path = write_notebook(tmp_path, "quiet.py", """\
        print("working")
        """)

    status, run = run_to_end(tmp_path, notebook_workflow(path))

    assert status.status == RunStatus.SUCCEEDED
    assert status.result is None
    assert "working" in read_log(run)


def test_shell_cell_fails_on_exit_code(tmp_path):
    path = write_notebook(tmp_path, "shell.py", """\
        # MAGIC %sh
        # MAGIC echo "shell in $(pwd)"
        # MAGIC exit 3
        """)

    status, run = run_to_end(tmp_path, notebook_workflow(path))

    assert status.status == RunStatus.FAILED
    assert status.error_message == (
        "Cell 1 (sh) failed: The shell command exited with code 3. See its output in the run log."
    )
    assert f"shell in {PROJECT_DIR}" in read_log(run)


@pytest.mark.spark
def test_sql_cells_display_and_share_session(tmp_path):
    path = write_notebook(tmp_path, "sql.py", """\
        spark.createDataFrame([("ada", 3), ("bob", 5)], ["name", "score"]).createOrReplaceTempView("scores")

        # COMMAND ----------

        # MAGIC %sql
        # MAGIC -- the view from the Python cell; ';' inside a string does not split
        # MAGIC CREATE OR REPLACE TEMP VIEW best AS SELECT name, score FROM scores WHERE name != ';';
        # MAGIC SELECT name, score * 10 AS points FROM best ORDER BY points DESC

        # COMMAND ----------

        dbutils.notebook.exit(spark.sql("SELECT sum(score) AS total FROM best").first()["total"])
        """)

    status, run = run_to_end(tmp_path, notebook_workflow(path))

    assert status.status == RunStatus.SUCCEEDED, read_log(run)
    assert status.result == "8"
    assert re.search(r"name\s+points\n\s*bob\s+50\n\s*ada\s+30", read_log(run))


@pytest.mark.spark
def test_invalid_spark_master_fails_with_reason(tmp_path):
    path = write_notebook(tmp_path, "count.py", """\
        dbutils.notebook.exit(spark.range(3).count())
        """)
    status, run = run_to_end(tmp_path, notebook_workflow(path), spark_master="nowhere")

    assert status.status == RunStatus.FAILED
    assert status.error_message == (
        f"Cell 1 (python) failed: BackendUnavailable: Could not start Spark (master nowhere) for run "
        f"{run.run_id}: [JAVA_GATEWAY_EXITED] Java gateway process exited before sending its port number. "
        "See the Spark output in the run log."
    )


def test_cancel_ends_sleeping_run_as_canceled(tmp_path):
    path = write_notebook(tmp_path, "sleepy.py", """\
        print("before sleep")

        # COMMAND ----------

        import time

        time.sleep(60)
        """)
    engine = make_engine(tmp_path / "home")
    run = make_run(notebook_workflow(path), tmp_path)
    engine_run_id = engine.submit_run(run)
    wait_for_log(run, "=== cell 2 (python) ===")

    engine.cancel_run(engine_run_id, run)
    status = wait_for_end(engine, engine_run_id, run)

    assert status.status == RunStatus.CANCELED
    assert status.error_message == "Canceled by request while cell 2 (python) ran."


def test_s3_input_is_staged_and_output_uploaded(tmp_path):
    moto = MotoServer().start()
    try:
        s3 = moto.client("s3")
        s3.create_bucket(Bucket="data")
        s3.put_object(Bucket="data", Key="in/names.txt", Body=b"ada\nbob\n")
        path = write_notebook(tmp_path, "staged.py", """\
            dbutils.widgets.text("input_path", "")
            dbutils.widgets.text("output_path", "")

            # COMMAND ----------

            from pathlib import Path

            names = Path(dbutils.widgets.get("input_path")).read_text().split()
            Path(dbutils.widgets.get("output_path"), "count.txt").write_text(str(len(names)))
            dbutils.notebook.exit(",".join(names))
            """)
        engine = make_engine(tmp_path / "home", s3_endpoint_url=moto.endpoint_url)
        run = make_run(notebook_workflow(path), tmp_path, {"input_path": "s3://data/in/names.txt"},
                       output_location="s3://data/runs/r1")

        status = wait_for_end(engine, engine.submit_run(run), run)
        uploaded = s3.get_object(Bucket="data", Key="runs/r1/count.txt")["Body"].read()
    finally:
        moto.stop()

    assert status.status == RunStatus.SUCCEEDED, read_log(run)
    assert status.result == "ada,bob"
    assert uploaded == b"2"


def test_split_sql_statements_respects_quotes_and_comments():
    text = "-- first; still a comment\nSELECT ';' AS a; /* b; */ SELECT 'it\\'s;' ;\n;  -- only a comment\n"

    statements = split_sql_statements(text)

    assert statements == ["-- first; still a comment\nSELECT ';' AS a", "/* b; */ SELECT 'it\\'s;'"]
