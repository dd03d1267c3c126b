"""Child process that runs one notebook on a SparkSession: `python -m operatorflow.notebooks.runner SPEC_PATH`.

It honours the contract of `operatorflow.engines.process`: the log goes to standard output and the
last act is `write_outcome`, also when the notebook fails or the run is canceled with SIGTERM.
The SparkSession starts only before the first cell that refers to Spark, so pure-Python notebooks
never start a JVM. The spec's `spark_master` chooses where Spark runs: `local[...]`, a standalone
master `spark://host:port`, or a Spark Connect server `sc://host:port`.
"""

from __future__ import annotations

import builtins
import dataclasses
import linecache
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import traceback
import types
import urllib.parse
from pathlib import Path
from typing import Any

from operatorflow.engines.process import CANCEL_FILE, read_spec, write_outcome
from operatorflow.engines.staging import local_output_dir, publish_output, stage_inputs
from operatorflow.engines.spark_local import check_java
from operatorflow.errors import BackendUnavailable, InvalidInput, OperatorFlowError
from operatorflow.notebooks.dbutils import DBUtils, NotebookExit
from operatorflow.notebooks.parser import RESERVED_PARAMETERS, Cell, Notebook, read_notebook
from operatorflow.storage import ObjectStores

logger = logging.getLogger(__name__)

DISPLAY_ROWS = 20
CONNECT_SCHEME = "sc://"
CONNECT_DEFAULT_PORT = 15002
"""Port of a Spark Connect URL that names none, as in Spark's own client."""
CONNECT_CHECK_SECONDS = 10.0
SPARK_NAMES = frozenset({"spark", "sc", "SparkSession", "SparkContext"})
"""Names whose use in a cell starts the session first, so `SparkSession.builder.getOrCreate()` gets ours."""

_MAX_ERROR_LINES = 12
_MAX_ERROR_CHARS = 2000


class RunCanceled(BaseException):
    """Raised by the SIGTERM handler. It is a BaseException, so a notebook's `except Exception:` lets it pass."""


class CellFailed(Exception):
    """Raised when a cell fails; the message is the error shown to the user."""


@dataclasses.dataclass
class _Progress:
    cell: int | None = None
    language: str = ""

    def where(self) -> str:
        return f" while cell {self.cell} ({self.language}) ran" if self.cell is not None else ""


class LazySparkSession:
    """Builds the run's one SparkSession on first use and stops it at the end."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self._spec = spec
        self._session = None

    @property
    def started(self) -> bool:
        return self._session is not None

    @property
    def master(self) -> str:
        return self._spec.get("spark_master") or "local[*]"

    @property
    def is_connect(self) -> bool:
        """True for a Spark Connect session, which has no SparkContext and no JVM in this process."""
        return self.master.startswith(CONNECT_SCHEME)

    def get(self):
        if self._session is not None:
            return self._session

        if self.is_connect:
            return self._connect()

        from pyspark.sql import SparkSession

        run_dir = Path(self._spec["run_dir"])
        master = self.master
        builder = (
            SparkSession.builder.master(master)
            .appName(f"operatorflow-{self._spec['run_id']}")
            .config("spark.ui.enabled", "false")
            # The progress bar rewrites one line with carriage returns, which makes a log file unreadable.
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.warehouse.dir", str((run_dir / "spark-warehouse").resolve()))
        )
        driver_memory = self._spec.get("spark_driver_memory")
        if driver_memory:
            builder = builder.config("spark.driver.memory", driver_memory)
        driver_host = self._spec.get("spark_driver_host")
        if driver_host:
            # Executors of a standalone cluster connect back to the driver at this address.
            builder = builder.config("spark.driver.host", driver_host).config("spark.driver.bindAddress", driver_host)

        logger.info("Spark start session for run %s: master %s, driver memory %s",
                    self._spec["run_id"], master, driver_memory or "default")
        try:
            self._session = builder.getOrCreate()
        except Exception as exc:
            advice = check_java() or "See the Spark output in the run log."
            raise BackendUnavailable(
                f"Could not start Spark (master {master}) for run {self._spec['run_id']}: "
                f"{_shorten(str(exc))} {advice}"
            ) from exc
        return self._session

    def _connect(self):
        from pyspark.sql import SparkSession

        url = self.master
        _check_connect_server(url, self._spec["run_id"])
        # With SPARK_REMOTE set, a notebook's own `SparkSession.builder.getOrCreate()` returns this
        # session instead of failing for want of a Connect URL.
        os.environ["SPARK_REMOTE"] = url
        # Only the application name is set: the server owns the static settings (UI, memory,
        # warehouse), and setting them from a client only raises warnings.
        builder = SparkSession.builder.remote(url).appName(f"operatorflow-{self._spec['run_id']}")
        logger.info("Spark Connect session for run %s: server %s", self._spec["run_id"], url)
        try:
            session = builder.getOrCreate()
            # The client connects lazily, so an unreachable server shows only on the first request.
            session.version
        except Exception as exc:
            raise BackendUnavailable(
                f"Could not connect to the Spark Connect server {url} for run {self._spec['run_id']}: "
                f"{_shorten(str(exc))} Check that the server runs and that the spark_cluster_master "
                "setting names its host and port."
            ) from exc
        self._session = session
        return session

    def stop(self) -> None:
        if self._session is None:
            return
        try:
            self._session.stop()
        except Exception as exc:  # noqa: BLE001 - the JVM may already be gone after a SIGTERM to the group.
            logger.warning("Spark session of run %s did not stop cleanly: %s", self._spec["run_id"], exc)
        self._session = None


def main(argv: list[str] | None = None) -> int:
    """Run the notebook of the spec at `argv[0]` and return the exit code: 0 when it succeeded, else 1."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m operatorflow.notebooks.runner SPEC_PATH", file=sys.stderr)
        return 2

    _configure_logging()
    spec = read_spec(args[0])
    run_dir = Path(spec["run_dir"])
    spark = LazySparkSession(spec)
    progress = _Progress()
    status, result = "FAILED", None
    error = "The notebook runner stopped unexpectedly. See the run log."

    try:
        signal.signal(signal.SIGTERM, _raise_canceled)
        result = run_notebook(spec, spark, progress)
        status, error = "SUCCEEDED", None
    except RunCanceled:
        status, error = "CANCELED", f"Canceled by request{progress.where()}."
        logger.warning("Run %s received SIGTERM: %s", spec["run_id"], error)
    except (CellFailed, OperatorFlowError) as exc:
        logger.error("Run %s failed: %s", spec["run_id"], exc)
        error = str(exc)
    except Exception as exc:
        logger.exception("Run %s failed in the notebook runner", spec["run_id"])
        error = f"The notebook runner failed: {type(exc).__name__}: {_shorten(str(exc))} See the run log."
    finally:
        # A cancel that arrives now finds the run finished; the outcome must still be written.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        spark.stop()
        if status == "FAILED" and (run_dir / CANCEL_FILE).exists():
            # The SIGTERM also reached the JVM, which can fail the cell before the handler runs.
            status, error = "CANCELED", f"Canceled by request{progress.where()}."
        write_outcome(run_dir, status, result=result, error=error)
        logger.info("Run %s ended %s", spec["run_id"], status)
    return 0 if status == "SUCCEEDED" else 1


def run_notebook(spec: dict[str, Any], spark: LazySparkSession, progress: _Progress | None = None) -> str | None:
    """Stage inputs, run every cell in one namespace and publish the output. Return the exit value."""
    progress = progress or _Progress()
    notebook = read_notebook(spec["workflow_path"])
    _reject_unsupported_cells(spec["workflow_path"], notebook)

    run_dir = Path(spec["run_dir"])
    stores = ObjectStores(Path.cwd(), spec.get("s3_endpoint_url", ""))
    run_parameters = {
        name: value for name, value in spec["parameters"].items() if name not in RESERVED_PARAMETERS
    }
    parameters = stage_inputs(run_parameters, stores, run_dir / "staged")
    output_dir = local_output_dir(spec["output_location"], stores, run_dir)
    parameters["output_path"] = str(output_dir)

    namespace = _notebook_namespace(DBUtils(parameters))
    # Helper modules next to the notebook are importable. The folder goes last on the path, so a
    # notebook file named like an installed module cannot shadow that module.
    sys.path.append(str(Path(spec["workflow_path"]).resolve().parent))
    result = None
    try:
        for number, cell in notebook.code_cells():
            progress.cell, progress.language = number, cell.language
            print(f"=== cell {number} ({cell.language}) ===", flush=True)
            started = time.monotonic()
            _run_cell(number, cell, namespace, spark, parameters)
            print(f"=== cell {number} done in {time.monotonic() - started:.1f} s ===", flush=True)
    except NotebookExit as exit_request:
        print(f"=== notebook exited in cell {progress.cell} ===", flush=True)
        result = exit_request.value
    progress.cell = None

    publish_output(output_dir, spec["output_location"], stores)
    return result


def split_sql_statements(text: str) -> list[str]:
    """Split SQL text at semicolons outside quotes and comments, dropping statements that are only comments."""
    statements = []
    start = index = 0
    while index < len(text):
        char = text[index]
        if char in "'\"`":
            index = _end_of_quoted(text, index)
        elif text.startswith("--", index):
            index = _end_of(text, "\n", index + 2)
        elif text.startswith("/*", index):
            index = _end_of(text, "*/", index + 2)
        elif char == ";":
            statements.append(text[start:index])
            start = index = index + 1
        else:
            index += 1
    statements.append(text[start:])
    return [statement.strip() for statement in statements if _has_sql(statement)]


def describe_failure(number: int, language: str, exc: BaseException, parameters: dict[str, str]) -> str:
    """Return the error message for a cell that raised `exc`, written for the notebook's author."""
    where = f"Cell {number} ({language})"
    line = _failing_line(exc, number)
    if line is not None:
        where += f", line {line},"

    missing = _missing_spark_path(exc)
    if missing is not None:
        return f"{where} failed: Input not found: {missing}. Check the {_parameter_hint(missing, parameters)}."
    if isinstance(exc, _ShellFailed):
        return f"{where} failed: {exc} See its output in the run log."
    return f"{where} failed: {type(exc).__name__}: {_shorten(str(exc))}"


def display(value: Any = None, *args: Any, **kwargs: Any) -> None:
    """Print the first rows of a Spark DataFrame, or else the value. Databricks' extra arguments are ignored."""
    if _is_spark_dataframe(value):
        if not value.columns:
            return
        print(value.limit(DISPLAY_ROWS).toPandas().to_string(index=False), flush=True)
        return
    print(value, flush=True)


def displayHTML(html: str) -> None:
    print(html, flush=True)


class _ShellFailed(Exception):
    pass


def _run_cell(number: int, cell: Cell, namespace: dict[str, Any], spark: LazySparkSession,
              parameters: dict[str, str]) -> None:
    try:
        if cell.language == "python":
            _run_python(number, cell.source, namespace, spark)
        elif cell.language == "sql":
            _run_sql(cell.source, namespace, spark)
        elif cell.language == "sh":
            _run_shell(cell.source)
    except (NotebookExit, RunCanceled):
        raise
    except SystemExit as exc:
        raise CellFailed(
            f"Cell {number} ({cell.language}) called sys.exit({exc.code!r}): "
            "use dbutils.notebook.exit(value) to end a notebook early."
        ) from exc
    except Exception as exc:
        traceback.print_exc(file=sys.stdout)
        raise CellFailed(describe_failure(number, cell.language, exc, parameters)) from exc


def _run_python(number: int, source: str, namespace: dict[str, Any], spark: LazySparkSession) -> None:
    filename = f"<cell {number}>"
    # Registered so that tracebacks in the log show the failing line of the cell.
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
    code = compile(source, filename, "exec")
    if _referenced_names(code) & SPARK_NAMES:
        _start_spark(namespace, spark)
    exec(code, namespace)


def _run_sql(source: str, namespace: dict[str, Any], spark: LazySparkSession) -> None:
    session = _start_spark(namespace, spark)
    result = None
    for statement in split_sql_statements(source):
        result = session.sql(statement)
    if result is not None:
        display(result)


def _run_shell(source: str) -> None:
    # The child writes straight to the log file descriptors, after what this process printed so far.
    sys.stdout.flush()
    sys.stderr.flush()
    completed = subprocess.run(["bash", "-c", source], cwd=Path.cwd(), stdin=subprocess.DEVNULL, check=False)
    if completed.returncode != 0:
        raise _ShellFailed(f"The shell command exited with code {completed.returncode}.")


def _start_spark(namespace: dict[str, Any], spark: LazySparkSession):
    """Start the session if needed and bind `spark` and `sc`; later cells may rebind those names."""
    if not spark.started:
        session = spark.get()
        namespace["spark"] = session
        namespace["sc"] = ConnectSparkContext(spark.master) if spark.is_connect else session.sparkContext
    return spark.get()


def _check_connect_server(url: str, run_id: str) -> None:
    """Raise BackendUnavailable at once when nothing listens at the Spark Connect URL.

    The pyspark 4.3 client retries a refused connection with backoff for more than five minutes
    (measured against a closed port), and the run would show RUNNING all that time.
    """
    parsed = urllib.parse.urlparse(url)
    try:
        port = parsed.port or CONNECT_DEFAULT_PORT
        with socket.create_connection((parsed.hostname or "", port), timeout=CONNECT_CHECK_SECONDS):
            pass
    except (OSError, ValueError) as exc:
        raise BackendUnavailable(
            f"Could not connect to the Spark Connect server {url} for run {run_id}: {exc}. Check that the "
            "server runs and that the spark_cluster_master setting names its host and port."
        ) from exc


class ConnectSparkContext:
    """Stands for `sc` on Spark Connect, where no SparkContext exists, and explains that on first use."""

    def __init__(self, url: str) -> None:
        self._url = url

    def __getattr__(self, name: str) -> Any:
        raise InvalidInput(
            f"sc.{name} is not available: this run uses the Spark Connect server {self._url}, which has no "
            "SparkContext (sc). Use the DataFrame API of `spark` instead, or run the notebook on an engine "
            "with a standalone or local master."
        )

    def __repr__(self) -> str:
        return f"<no SparkContext on Spark Connect {self._url}>"


def _notebook_namespace(dbutils: DBUtils) -> dict[str, Any]:
    return {
        "__name__": "__main__",
        "__builtins__": builtins,
        "dbutils": dbutils,
        "getArgument": dbutils.widgets.getArgument,
        "display": display,
        "displayHTML": displayHTML,
    }


def _reject_unsupported_cells(path: str, notebook: Notebook) -> None:
    for number, cell in notebook.code_cells():
        if cell.language == "run":
            raise InvalidInput(
                f"Cell {number} of {path} (%run {cell.source}) is not supported by the local engine yet: "
                "inline the notebook or use a Python import."
            )


def _referenced_names(code: types.CodeType) -> set[str]:
    """Return the global and attribute names used by `code` and every function or class nested in it."""
    names = set(code.co_names)
    for constant in code.co_consts:
        if isinstance(constant, types.CodeType):
            names |= _referenced_names(constant)
    return names


def _failing_line(exc: BaseException, number: int) -> int | None:
    """Return the line of cell `number` that was running when `exc` was raised, if the cell's code raised it."""
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == f"<cell {number}>":
            line = frame.lineno
    return line


def _missing_spark_path(exc: BaseException) -> str | None:
    if "pyspark" not in sys.modules:
        return None
    from pyspark.errors import AnalysisException

    if not isinstance(exc, AnalysisException) or exc.getCondition() != "PATH_NOT_FOUND":
        return None
    path = (exc.getMessageParameters() or {}).get("path", "")
    return path.removeprefix("file:") or "(path not reported by Spark)"


def _parameter_hint(missing: str, parameters: dict[str, str]) -> str:
    """Name the parameter whose value is the missing path, when one is."""
    target = Path(missing).resolve()
    for name, value in parameters.items():
        if value and Path(value.removeprefix("file:")).resolve() == target:
            return f"{name} parameter"
    return "notebook's input paths"


def _is_spark_dataframe(value: Any) -> bool:
    if "pyspark" not in sys.modules:
        return False
    from pyspark.sql import DataFrame

    return isinstance(value, DataFrame)


def _end_of_quoted(text: str, index: int) -> int:
    """Return the index after the quoted string or identifier that starts at `index`, honouring backslash escapes."""
    quote = text[index]
    index += 1
    while index < len(text):
        if text[index] == "\\":
            index += 2
        elif text[index] == quote:
            return index + 1
        else:
            index += 1
    return index


def _end_of(text: str, terminator: str, index: int) -> int:
    found = text.find(terminator, index)
    return len(text) if found == -1 else found + len(terminator)


def _has_sql(statement: str) -> bool:
    """True when the statement contains more than whitespace and comments."""
    index = 0
    while index < len(statement):
        if statement.startswith("--", index):
            index = _end_of(statement, "\n", index + 2)
        elif statement.startswith("/*", index):
            index = _end_of(statement, "*/", index + 2)
        elif statement[index].isspace():
            index += 1
        else:
            return True
    return False


def _shorten(message: str) -> str:
    """Keep the first lines of a message, because Py4J errors append the whole Java stack trace."""
    lines = []
    for line in message.strip().splitlines():
        if line.lstrip().startswith("at ") or len(lines) == _MAX_ERROR_LINES:
            lines.append("... (full error in the run log)")
            break
        lines.append(line)
    text = "\n".join(lines)
    if len(text) > _MAX_ERROR_CHARS:
        text = text[:_MAX_ERROR_CHARS] + "... (full error in the run log)"
    return text


def _raise_canceled(signum: int, frame: types.FrameType | None) -> None:
    # Raise once: the clean-up that follows must not be interrupted by a repeated SIGTERM. No logging
    # here, because the signal may arrive while the logging module holds its lock.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise RunCanceled()


def _configure_logging() -> None:
    # This module is the entry point of its own process, so it may configure logging.
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)
    logging.basicConfig(
        stream=sys.stdout,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("py4j").setLevel(logging.WARNING)


if __name__ == "__main__":
    sys.exit(main())
