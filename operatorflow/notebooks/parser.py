"""Reading of Databricks source notebooks (`.py`) and Jupyter notebooks (`.ipynb`) into cells and parameters."""

from __future__ import annotations

import ast
import dataclasses
import logging
import re
import warnings
from pathlib import Path

from operatorflow.errors import InvalidInput, NotFound
from operatorflow.workflows import Parameter

logger = logging.getLogger(__name__)

NOTEBOOK_SUFFIXES = (".py", ".ipynb")
RESERVED_PARAMETERS = frozenset({"output_path"})
"""Parameters that the runner sets itself, so the catalog never offers them to the user."""

DATABRICKS_HEADER = "# Databricks notebook source"
CELL_SEPARATOR = "# COMMAND ----------"
MAGIC_PREFIX = "# MAGIC"
LANGUAGES = ("python", "md", "sql", "sh", "run")
WIDGET_FUNCTIONS = ("text", "dropdown", "combobox", "multiselect")

_TITLE_LINE = re.compile(r"^# DBTITLE \d+,(.*)$")
_MAGIC_LINE = re.compile(r"^%(\w+)(.*)$", re.DOTALL)
_NOT_LITERAL = object()


@dataclasses.dataclass(frozen=True)
class Cell:
    language: str
    """One of `LANGUAGES`."""
    source: str
    """The cell's text without its `%md`/`%sql`/... magic and without `# MAGIC` prefixes."""
    title: str = ""


@dataclasses.dataclass(frozen=True)
class Notebook:
    cells: tuple[Cell, ...]

    def code_cells(self) -> list[tuple[int, Cell]]:
        """Return the non-empty cells that run, with their 1-based position in the notebook."""
        return [
            (number, cell)
            for number, cell in enumerate(self.cells, start=1)
            if cell.language != "md" and cell.source.strip()
        ]


def read_notebook(path: str | Path) -> Notebook:
    """Read a notebook file. Raise InvalidInput when it is malformed or a cell has a Python syntax error."""
    path = Path(path)
    if path.suffix not in NOTEBOOK_SUFFIXES:
        raise InvalidInput(
            f"Unsupported notebook file {path}: use a Databricks source notebook (.py) or a Jupyter notebook (.ipynb)."
        )
    try:
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise NotFound(f"Notebook file {path} not found: check the catalog folder.") from exc
    except OSError as exc:
        raise InvalidInput(f"Could not read notebook {path}: {exc.strerror}. Check that it is a readable file.") from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"Invalid notebook {path}: it is not UTF-8 text ({exc}). Save it as UTF-8.") from exc

    if path.suffix == ".ipynb":
        cells = _read_ipynb_cells(path, text)
    else:
        cells = _read_databricks_cells(path, text)
    notebook = Notebook(cells=tuple(cells))

    if not notebook.code_cells():
        raise InvalidInput(
            f"Invalid notebook {path}: it has no code cell. Add a Python, %sql or %sh cell to run."
        )
    for number, cell in notebook.code_cells():
        if cell.language == "python":
            _check_syntax(path, number, cell.source)
    return notebook


def describe_notebook(path: str | Path) -> tuple[str, list[Parameter]]:
    """Return the notebook's description and the widgets it declares, except RESERVED_PARAMETERS.

    The description is the first line of the first `md` cell without its leading `#` characters.
    Widgets are the `dbutils.widgets.text|dropdown|combobox|multiselect` calls of the Python cells,
    in source order. A widget declared twice keeps its first declaration.
    """
    notebook = read_notebook(path)

    description = ""
    for cell in notebook.cells:
        if cell.language == "md":
            description = _first_line(cell.source).lstrip("#").strip()
            break

    parameters: list[Parameter] = []
    seen = set(RESERVED_PARAMETERS)
    for number, cell in notebook.code_cells():
        if cell.language != "python":
            continue
        for parameter in _declared_widgets(Path(path), number, cell.source):
            if parameter.name in seen:
                continue
            seen.add(parameter.name)
            parameters.append(parameter)
    return description, parameters


def _read_databricks_cells(path: Path, text: str) -> list[Cell]:
    lines = text.splitlines()
    if not lines or lines[0].rstrip() != DATABRICKS_HEADER:
        raise InvalidInput(
            f"Invalid notebook {path}: a .py notebook must start with the line {DATABRICKS_HEADER!r}. "
            "Export it from Databricks as 'Source file', or add that line and separate cells with "
            f"{CELL_SEPARATOR!r} lines."
        )

    chunks: list[list[str]] = [[]]
    for line in lines[1:]:
        if line.rstrip() == CELL_SEPARATOR:
            chunks.append([])
        else:
            chunks[-1].append(line)

    cells = []
    for number, chunk in enumerate(chunks, start=1):
        cells.append(_databricks_cell(path, number, _strip_blank_edges(chunk)))
    return cells


def _databricks_cell(path: Path, number: int, lines: list[str]) -> Cell:
    title = ""
    if lines:
        match = _TITLE_LINE.match(lines[0])
        if match:
            title = match.group(1).strip()
            lines = lines[1:]

    is_magic = bool(lines) and all(line.startswith(MAGIC_PREFIX) for line in lines)
    if not is_magic:
        return Cell("python", "\n".join(lines), title)

    # Databricks writes `# MAGIC` alone for an empty line and `# MAGIC text` otherwise.
    body = [line[len(MAGIC_PREFIX) + 1:] if line.startswith(MAGIC_PREFIX + " ") else line[len(MAGIC_PREFIX):]
            for line in lines]
    language, source = _split_magic(path, number, "\n".join(body))
    if language is None:
        raise InvalidInput(
            f"Invalid notebook {path}: cell {number} is a # MAGIC cell that does not start with a magic "
            "command such as %md, %sql, %sh or %run. Add the magic command on its first line."
        )
    return Cell(language, source, title)


def _read_ipynb_cells(path: Path, text: str) -> list[Cell]:
    import nbformat
    from nbformat.warnings import MissingIDFieldWarning

    try:
        with warnings.catch_warnings():
            # Cell ids are optional before format 4.5 and unused here, so their absence is no reason to warn.
            warnings.simplefilter("ignore", MissingIDFieldWarning)
            document = nbformat.reads(text, as_version=4)
            nbformat.validate(document)
    except nbformat.reader.NotJSONError as exc:
        raise InvalidInput(
            f"Invalid notebook {path}: it is not valid JSON. Save it again from Jupyter."
        ) from exc
    except (nbformat.ValidationError, nbformat.NBFormatError, KeyError, TypeError, AttributeError) as exc:
        reason = _first_line(str(exc)) or type(exc).__name__
        raise InvalidInput(
            f"Invalid notebook {path}: it is not a valid Jupyter notebook of format version 4 ({reason}). "
            "Save it again from Jupyter."
        ) from exc

    cells = []
    for number, raw_cell in enumerate(document.cells, start=1):
        source = raw_cell.get("source", "")
        if raw_cell.cell_type == "markdown":
            cells.append(Cell("md", source))
        elif raw_cell.cell_type == "code":
            language, magic_source = _split_magic(path, number, source)
            if language is None:
                cells.append(Cell("python", source))
            else:
                cells.append(Cell(language, magic_source))
        # Raw cells are neither run nor shown, as in Jupyter.
    return cells


def _split_magic(path: Path, number: int, text: str) -> tuple[str | None, str]:
    """Return the language named by a leading magic command and the text after it.

    The language is None when the text does not start with `%`. Text on the magic's own line stays
    in the source, so `%run ./setup` keeps `./setup` and `%md # Title` keeps `# Title`.
    """
    stripped = text.lstrip("\n")
    match = _MAGIC_LINE.match(stripped)
    if match is None:
        return None, text

    magic = match.group(1).lower()
    if magic not in LANGUAGES:
        raise InvalidInput(
            f"Invalid notebook {path}: cell {number} uses the magic command %{magic}, which OperatorFlow "
            "cannot run. Supported cells are Python, %md, %sql, %sh and %run; install packages in the "
            "project's environment instead of %pip, and use Python for %fs or %scala cells."
        )

    first, _, remainder = match.group(2).partition("\n")
    lines = []
    if first.strip():
        lines.append(first.strip())
    if remainder:
        lines.append(remainder)
    return magic, "\n".join(lines).strip("\n")


def _check_syntax(path: Path, number: int, source: str) -> None:
    try:
        compile(source, f"<cell {number}>", "exec", dont_inherit=True)
    except SyntaxError as exc:
        raise InvalidInput(
            f"Invalid notebook {path}: cell {number} has a Python syntax error on line {exc.lineno}: "
            f"{exc.msg}. Fix that line of the cell."
        ) from exc


def _declared_widgets(path: Path, number: int, source: str) -> list[Parameter]:
    calls = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and _is_widget_declaration(node.func):
            calls.append(node)
    calls.sort(key=lambda node: (node.lineno, node.col_offset))
    return [_widget_parameter(path, number, call) for call in calls]


def _is_widget_declaration(func: ast.expr) -> bool:
    """True for `dbutils.widgets.<text|dropdown|combobox|multiselect>`."""
    return (
        isinstance(func, ast.Attribute)
        and func.attr in WIDGET_FUNCTIONS
        and isinstance(func.value, ast.Attribute)
        and func.value.attr == "widgets"
        and isinstance(func.value.value, ast.Name)
        and func.value.value.id == "dbutils"
    )


def _widget_parameter(path: Path, number: int, call: ast.Call) -> Parameter:
    kind = call.func.attr  # type: ignore[attr-defined]
    names = ["name", "defaultValue", "label"] if kind == "text" else ["name", "defaultValue", "choices", "label"]
    arguments: dict[str, ast.expr] = dict(zip(names, call.args))
    arguments.update({keyword.arg: keyword.value for keyword in call.keywords if keyword.arg})
    where = f"{path}: cell {number}, line {call.lineno}"

    name = _literal(arguments.get("name"))
    if not isinstance(name, str) or not name:
        raise InvalidInput(
            f"Invalid notebook {where}: dbutils.widgets.{kind} needs a literal string name, such as "
            f"dbutils.widgets.{kind}(\"input_path\", ...), so that the parameter can be listed."
        )
    default = _literal(arguments.get("defaultValue"))
    if not isinstance(default, (str, int, float)) or isinstance(default, bool):
        raise InvalidInput(
            f"Invalid notebook {where}: the default value of widget {name!r} must be a literal string, "
            "such as \"20\"."
        )

    choices = _literal(arguments.get("choices"))
    if not isinstance(choices, (list, tuple)):
        # Databricks accepts computed choices, but they cannot be listed here, so the form shows a text field.
        choices = ()
    label = _literal(arguments.get("label"))
    return Parameter(
        name=name,
        default=str(default),
        label=label if isinstance(label, str) else "",
        choices=tuple(str(choice) for choice in choices),
    )


def _literal(node: ast.expr | None) -> object:
    if node is None:
        return None
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return _NOT_LITERAL


def _strip_blank_edges(lines: list[str]) -> list[str]:
    start, end = 0, len(lines)
    while start < end and not lines[start].strip():
        start += 1
    while end > start and not lines[end - 1].strip():
        end -= 1
    return lines[start:end]


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line
    return ""
