"""Reading Databricks source and Jupyter notebooks, and listing the widgets they declare."""

from __future__ import annotations

import textwrap
from pathlib import Path

import nbformat
import pytest

from operatorflow.errors import InvalidInput, NotFound
from operatorflow.notebooks.parser import Cell, describe_notebook, read_notebook
from operatorflow.settings import PROJECT_DIR
from operatorflow.workflows import Parameter

SALES_REPORT = """\
# Databricks notebook source
# MAGIC %md
# MAGIC # Sales report
# MAGIC
# MAGIC Sums sales per region.

# COMMAND ----------

# DBTITLE 1,Parameters
dbutils.widgets.text("region", "emea", "Region")
dbutils.widgets.dropdown(name="period", defaultValue="month", choices=["day", "month"], label="Period")
dbutils.widgets.text("output_path", "")

# COMMAND ----------

# MAGIC %sql
# MAGIC SELECT region, sum(amount)
# MAGIC FROM sales
# MAGIC GROUP BY region

# COMMAND ----------

# MAGIC %sh ls -l
# MAGIC echo done

# COMMAND ----------

# MAGIC %run ./shared/setup

# COMMAND ----------

# MAGIC %python
# MAGIC print(dbutils.widgets.get("region"))
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def write_ipynb(folder: Path, name: str, cells: list) -> Path:
    notebook = nbformat.v4.new_notebook(cells=cells)
    path = folder / name
    path.write_text(nbformat.writes(notebook))
    return path


def test_databricks_cells_languages_and_sources(tmp_path):
    path = write(tmp_path, "sales.py", SALES_REPORT)

    notebook = read_notebook(path)

    assert [cell.language for cell in notebook.cells] == ["md", "python", "sql", "sh", "run", "python"]
    assert notebook.cells[0].source == "# Sales report\n\nSums sales per region."
    assert notebook.cells[2].source == "SELECT region, sum(amount)\nFROM sales\nGROUP BY region"
    assert notebook.cells[3].source == "ls -l\necho done"
    assert notebook.cells[4].source == "./shared/setup"
    assert notebook.cells[5].source == 'print(dbutils.widgets.get("region"))'


def test_databricks_title_is_read_and_removed(tmp_path):
    path = write(tmp_path, "sales.py", SALES_REPORT)

    cell = read_notebook(path).cells[1]

    assert cell.title == "Parameters"
    assert cell.source.startswith('dbutils.widgets.text("region"')


def test_databricks_title_on_magic_cell(tmp_path):
    path = write(tmp_path, "titled.py", """\
        # Databricks notebook source
        # DBTITLE 1,Totals
        # MAGIC %sql
        # MAGIC SELECT 1
        """)

    notebook = read_notebook(path)

    assert notebook.cells == (Cell("sql", "SELECT 1", "Totals"),)


def test_databricks_comment_lines_in_python_cell_stay_python(tmp_path):
    path = write(tmp_path, "mixed.py", """\
        # Databricks notebook source
        # MAGIC looks like magic
        x = 1
        """)

    notebook = read_notebook(path)

    assert notebook.cells == (Cell("python", "# MAGIC looks like magic\nx = 1"),)


def test_databricks_code_cells_keep_file_positions(tmp_path):
    path = write(tmp_path, "gaps.py", """\
        # Databricks notebook source
        # MAGIC %md
        # MAGIC Notes

        # COMMAND ----------

        # COMMAND ----------

        x = 1
        """)

    code_cells = read_notebook(path).code_cells()

    assert code_cells == [(3, Cell("python", "x = 1"))]


def test_ipynb_cells_and_magics(tmp_path):
    path = write_ipynb(tmp_path, "report.ipynb", [
        nbformat.v4.new_markdown_cell("# Report\nText"),
        nbformat.v4.new_code_cell("x = 1\nprint(x)"),
        nbformat.v4.new_code_cell("%sql\nSELECT 1"),
        nbformat.v4.new_code_cell("%sh echo hi"),
        nbformat.v4.new_raw_cell("not run"),
        nbformat.v4.new_code_cell("%run ./other"),
    ])

    notebook = read_notebook(path)

    assert notebook.cells == (
        Cell("md", "# Report\nText"),
        Cell("python", "x = 1\nprint(x)"),
        Cell("sql", "SELECT 1"),
        Cell("sh", "echo hi"),
        Cell("run", "./other"),
    )


def test_ipynb_without_cell_ids_is_read(tmp_path):
    path = tmp_path / "old.ipynb"
    path.write_text(
        '{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": ['
        '{"cell_type": "code", "source": ["x = 1\\n", "y = 2"], "metadata": {}, "outputs": [],'
        ' "execution_count": null}]}'
    )

    notebook = read_notebook(path)

    assert notebook.cells == (Cell("python", "x = 1\ny = 2"),)


def test_missing_header_rejected(tmp_path):
    path = write(tmp_path, "plain.py", "print('hello')\n")

    with pytest.raises(InvalidInput) as info:
        read_notebook(path)

    assert str(info.value) == (
        f"Invalid notebook {path}: a .py notebook must start with the line '# Databricks notebook source'. "
        "Export it from Databricks as 'Source file', or add that line and separate cells with "
        "'# COMMAND ----------' lines."
    )


def test_empty_py_file_rejected(tmp_path):
    path = write(tmp_path, "empty.py", "")

    with pytest.raises(InvalidInput) as info:
        read_notebook(path)

    assert str(info.value).startswith(f"Invalid notebook {path}: a .py notebook must start with the line")


def test_header_only_rejected_for_missing_code(tmp_path):
    path = write(tmp_path, "header.py", """\
        # Databricks notebook source
        # MAGIC %md
        # MAGIC Only words
        """)

    with pytest.raises(InvalidInput) as info:
        read_notebook(path)

    assert str(info.value) == (
        f"Invalid notebook {path}: it has no code cell. Add a Python, %sql or %sh cell to run."
    )


def test_ipynb_invalid_json_rejected(tmp_path):
    path = write(tmp_path, "broken.ipynb", '{"cells": [')

    with pytest.raises(InvalidInput) as info:
        read_notebook(path)

    assert str(info.value) == f"Invalid notebook {path}: it is not valid JSON. Save it again from Jupyter."


def test_ipynb_empty_file_rejected(tmp_path):
    path = write(tmp_path, "empty.ipynb", "")

    with pytest.raises(InvalidInput) as info:
        read_notebook(path)

    assert str(info.value) == f"Invalid notebook {path}: it is not valid JSON. Save it again from Jupyter."


def test_ipynb_invalid_schema_rejected(tmp_path):
    path = write(tmp_path, "wrong.ipynb", '{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": '
                                          '[{"cell_type": "code", "metadata": {}}]}')

    with pytest.raises(InvalidInput) as info:
        read_notebook(path)

    assert str(info.value) == (
        f"Invalid notebook {path}: it is not a valid Jupyter notebook of format version 4 "
        "('source' is a required property). Save it again from Jupyter."
    )


def test_syntax_error_names_cell_and_line(tmp_path):
    path = write(tmp_path, "typo.py", """\
        # Databricks notebook source
        x = 1

        # COMMAND ----------

        y = 2
        print(y
        """)

    with pytest.raises(InvalidInput) as info:
        read_notebook(path)

    assert str(info.value) == (
        f"Invalid notebook {path}: cell 2 has a Python syntax error on line 2: "
        "'(' was never closed. Fix that line of the cell."
    )


def test_unsupported_magic_rejected(tmp_path):
    path = write(tmp_path, "pip.py", """\
        # Databricks notebook source
        # MAGIC %pip install requests
        """)

    with pytest.raises(InvalidInput) as info:
        read_notebook(path)

    assert str(info.value) == (
        f"Invalid notebook {path}: cell 1 uses the magic command %pip, which OperatorFlow cannot run. "
        "Supported cells are Python, %md, %sql, %sh and %run; install packages in the project's "
        "environment instead of %pip, and use Python for %fs or %scala cells."
    )


def test_magic_cell_without_command_rejected(tmp_path):
    path = write(tmp_path, "nomagic.py", """\
        # Databricks notebook source
        # MAGIC SELECT 1
        """)

    with pytest.raises(InvalidInput) as info:
        read_notebook(path)

    assert str(info.value) == (
        f"Invalid notebook {path}: cell 1 is a # MAGIC cell that does not start with a magic command "
        "such as %md, %sql, %sh or %run. Add the magic command on its first line."
    )


def test_other_suffix_rejected(tmp_path):
    path = write(tmp_path, "notes.txt", "x = 1")

    with pytest.raises(InvalidInput) as info:
        read_notebook(path)

    assert str(info.value) == (
        f"Unsupported notebook file {path}: use a Databricks source notebook (.py) or a Jupyter notebook (.ipynb)."
    )


def test_missing_file_not_found(tmp_path):
    path = tmp_path / "gone.py"

    with pytest.raises(NotFound) as info:
        read_notebook(path)

    assert str(info.value) == f"Notebook file {path} not found: check the catalog folder."


def test_folder_named_like_notebook_rejected(tmp_path):
    path = tmp_path / "folder.py"
    path.mkdir()

    with pytest.raises(InvalidInput) as info:
        read_notebook(path)

    assert str(info.value) == f"Could not read notebook {path}: Is a directory. Check that it is a readable file."


def test_describe_lists_widgets_in_order_without_output_path(tmp_path):
    path = write(tmp_path, "sales.py", SALES_REPORT)

    description, parameters = describe_notebook(path)

    assert description == "Sales report"
    assert parameters == [
        Parameter(name="region", default="emea", label="Region"),
        Parameter(name="period", default="month", label="Period", choices=("day", "month")),
    ]


def test_describe_reads_every_widget_kind_and_keeps_first_declaration(tmp_path):
    path = write(tmp_path, "kinds.py", """\
        # Databricks notebook source
        dbutils.widgets.combobox("fruit", "apple", ["apple", "pear"])
        dbutils.widgets.multiselect("days", "mon,tue", ["mon", "tue", "wed"], "Days")

        # COMMAND ----------

        def declare():
            dbutils.widgets.text(label="Limit", defaultValue=10, name="limit")

        dbutils.widgets.text("fruit", "pear")
        """)

    _, parameters = describe_notebook(path)

    assert parameters == [
        Parameter(name="fruit", default="apple", choices=("apple", "pear")),
        Parameter(name="days", default="mon,tue", label="Days", choices=("mon", "tue", "wed")),
        Parameter(name="limit", default="10", label="Limit"),
    ]


def test_describe_computed_choices_become_free_text(tmp_path):
    path = write(tmp_path, "months.py", """\
        # Databricks notebook source
        dbutils.widgets.dropdown("month", "1", [str(m) for m in range(1, 13)], "Month")
        """)

    _, parameters = describe_notebook(path)

    assert parameters == [Parameter(name="month", default="1", label="Month")]


def test_describe_computed_name_rejected(tmp_path):
    path = write(tmp_path, "computed.py", """\
        # Databricks notebook source
        name = "region"
        dbutils.widgets.text(name, "emea")
        """)

    with pytest.raises(InvalidInput) as info:
        describe_notebook(path)

    assert str(info.value) == (
        f"Invalid notebook {path}: cell 1, line 2: dbutils.widgets.text needs a literal string name, such as "
        'dbutils.widgets.text("input_path", ...), so that the parameter can be listed.'
    )


def test_describe_computed_default_rejected(tmp_path):
    path = write(tmp_path, "default.py", """\
        # Databricks notebook source
        dbutils.widgets.text("top_n", str(20))
        """)

    with pytest.raises(InvalidInput) as info:
        describe_notebook(path)

    assert str(info.value) == (
        f"Invalid notebook {path}: cell 1, line 1: the default value of widget 'top_n' must be a literal "
        'string, such as "20".'
    )


def test_describe_without_markdown_has_empty_description(tmp_path):
    path = write_ipynb(tmp_path, "bare.ipynb", [nbformat.v4.new_code_cell('dbutils.widgets.text("a", "1")')])

    description, parameters = describe_notebook(path)

    assert description == ""
    assert parameters == [Parameter(name="a", default="1")]


def test_describe_ipynb_skips_sql_cells(tmp_path):
    path = write_ipynb(tmp_path, "sql.ipynb", [
        nbformat.v4.new_markdown_cell("## Daily load"),
        nbformat.v4.new_code_cell("%sql\nSELECT 'dbutils.widgets.text(\"x\", \"1\")'"),
        nbformat.v4.new_code_cell('dbutils.widgets.text("day", "2024-01-01", "Day")'),
    ])

    description, parameters = describe_notebook(path)

    assert description == "Daily load"
    assert parameters == [Parameter(name="day", default="2024-01-01", label="Day")]


def test_describe_wordcount_catalog_notebook():
    path = PROJECT_DIR / "catalog" / "notebooks" / "shakespeare_wordcount.py"

    description, parameters = describe_notebook(path)

    assert description == "Shakespeare word count"
    assert parameters == [
        Parameter(name="input_path", default="examples/data/tinyshakespeare.txt", label="Input text file"),
        Parameter(name="top_n", default="20", label="Number of top words"),
    ]
