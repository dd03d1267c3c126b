"""The local `dbutils`: widgets with run parameters, `notebook.exit` and `fs` on local paths."""

from __future__ import annotations

import pytest

from operatorflow.errors import InvalidInput
from operatorflow.notebooks.dbutils import DBUtils, InputWidgetNotDefined, NotebookExit


def test_widget_returns_default_without_argument():
    dbutils = DBUtils({})
    dbutils.widgets.text("top_n", "20", "Top N")

    value = dbutils.widgets.get("top_n")

    assert value == "20"


def test_widget_returns_run_argument_over_default():
    dbutils = DBUtils({"top_n": "5"})
    dbutils.widgets.text("top_n", "20")

    value = dbutils.widgets.get("top_n")

    assert value == "5"


def test_undeclared_argument_stays_available():
    dbutils = DBUtils({"extra": "x"})

    value = dbutils.widgets.get("extra")

    assert value == "x"


def test_unknown_widget_raises_with_declared_names():
    dbutils = DBUtils({})
    dbutils.widgets.text("top_n", "20")
    dbutils.widgets.text("input_path", "a.txt")

    with pytest.raises(InputWidgetNotDefined) as info:
        dbutils.widgets.get("topn")

    assert str(info.value) == (
        "Widget 'topn' is not declared; declared widgets: input_path, top_n. "
        "Declare it first, for example dbutils.widgets.text('topn', \"\")."
    )


def test_unknown_widget_error_is_invalid_input():
    dbutils = DBUtils({})

    with pytest.raises(InvalidInput) as info:
        dbutils.widgets.get("missing")

    assert "declared widgets: none" in str(info.value)


def test_get_argument_falls_back_to_default_value():
    dbutils = DBUtils({"given": "1"})

    assert dbutils.widgets.getArgument("given", "fallback") == "1"
    assert dbutils.widgets.getArgument("missing", "fallback") == "fallback"
    assert dbutils.widgets.getArgument("missing") is None


def test_get_all_merges_defaults_and_arguments():
    dbutils = DBUtils({"top_n": "5", "extra": "x"})
    dbutils.widgets.text("top_n", "20")
    dbutils.widgets.text("input_path", "a.txt")

    values = dbutils.widgets.getAll()

    assert values == {"top_n": "5", "input_path": "a.txt", "extra": "x"}


def test_redeclaring_widget_keeps_first_default():
    dbutils = DBUtils({})
    dbutils.widgets.text("top_n", "20")
    dbutils.widgets.text("top_n", "99")

    value = dbutils.widgets.get("top_n")

    assert value == "20"


def test_remove_undeclares_widget():
    dbutils = DBUtils({})
    dbutils.widgets.text("top_n", "20")

    dbutils.widgets.remove("top_n")

    with pytest.raises(InputWidgetNotDefined):
        dbutils.widgets.get("top_n")


def test_remove_unknown_widget_raises():
    dbutils = DBUtils({})

    with pytest.raises(InputWidgetNotDefined) as info:
        dbutils.widgets.remove("top_n")

    assert str(info.value) == "Cannot remove widget 'top_n': it is not declared; declared widgets: none."


def test_remove_all_keeps_run_arguments():
    dbutils = DBUtils({"top_n": "5"})
    dbutils.widgets.text("top_n", "20")
    dbutils.widgets.text("input_path", "a.txt")

    dbutils.widgets.removeAll()

    assert dbutils.widgets.getAll() == {"top_n": "5"}


def test_dropdown_rejects_default_outside_choices():
    dbutils = DBUtils({})

    with pytest.raises(InvalidInput) as info:
        dbutils.widgets.dropdown("period", "year", ["day", "month"], "Period")

    assert str(info.value) == "Invalid value 'year' for widget 'period': choose from day, month."


def test_dropdown_rejects_argument_outside_choices():
    dbutils = DBUtils({"period": "week"})

    with pytest.raises(InvalidInput) as info:
        dbutils.widgets.dropdown("period", "day", ["day", "month"])

    assert str(info.value) == "Invalid value 'week' for widget 'period': choose from day, month."


def test_dropdown_accepts_argument_among_choices():
    dbutils = DBUtils({"period": "month"})
    dbutils.widgets.dropdown("period", "day", ["day", "month"])

    value = dbutils.widgets.get("period")

    assert value == "month"


def test_combobox_accepts_any_value():
    dbutils = DBUtils({"fruit": "kiwi"})
    dbutils.widgets.combobox("fruit", "apple", ["apple", "pear"])

    value = dbutils.widgets.get("fruit")

    assert value == "kiwi"


def test_multiselect_checks_every_selected_value():
    dbutils = DBUtils({"days": "mon,sun"})

    with pytest.raises(InvalidInput) as info:
        dbutils.widgets.multiselect("days", "mon", ["mon", "tue"])

    assert str(info.value) == "Invalid value 'sun' for widget 'days': choose from mon, tue."


def test_multiselect_accepts_empty_selection():
    dbutils = DBUtils({"days": ""})
    dbutils.widgets.multiselect("days", "mon", ["mon", "tue"])

    value = dbutils.widgets.get("days")

    assert value == ""


def test_exit_raises_with_text_value():
    dbutils = DBUtils({})

    with pytest.raises(NotebookExit) as info:
        dbutils.notebook.exit(42)

    assert info.value.value == "42"


def test_exit_passes_through_except_exception():
    dbutils = DBUtils({})

    def notebook_body():
        try:
            dbutils.notebook.exit("done")
        except Exception:
            return "swallowed"
        return "continued"

    with pytest.raises(NotebookExit) as info:
        notebook_body()

    assert info.value.value == "done"


def test_notebook_run_not_supported():
    dbutils = DBUtils({})

    with pytest.raises(InvalidInput) as info:
        dbutils.notebook.run("./other", 60, {})

    assert str(info.value) == (
        "dbutils.notebook.run('./other') is not supported by the local engine yet: "
        "inline the notebook or use a Python import."
    )


def test_fs_put_head_ls(tmp_path):
    dbutils = DBUtils({})
    target = tmp_path / "out" / "note.txt"

    dbutils.fs.put(str(target), "hello world")
    head = dbutils.fs.head(f"file:{target}", 5)
    listing = dbutils.fs.ls(f"file://{tmp_path / 'out'}")

    assert head == "hello"
    assert [(info.name, info.size) for info in listing] == [("note.txt", 11)]
    assert listing[0].path == f"file:{target}"


def test_fs_put_refuses_overwrite_by_default(tmp_path):
    dbutils = DBUtils({})
    target = tmp_path / "note.txt"
    dbutils.fs.put(str(target), "one")

    with pytest.raises(FileExistsError):
        dbutils.fs.put(str(target), "two")
    dbutils.fs.put(str(target), "two", overwrite=True)

    assert target.read_text() == "two"


def test_fs_cp_mkdirs_rm(tmp_path):
    dbutils = DBUtils({})
    source = tmp_path / "src"
    dbutils.fs.mkdirs(str(source / "inner"))
    dbutils.fs.put(str(source / "inner" / "a.txt"), "a")

    dbutils.fs.cp(str(source), str(tmp_path / "copy"), recurse=True)
    removed = dbutils.fs.rm(str(source), recurse=True)
    removed_again = dbutils.fs.rm(str(source))

    assert (tmp_path / "copy" / "inner" / "a.txt").read_text() == "a"
    assert removed is True
    assert removed_again is False
    assert not source.exists()


def test_fs_rm_non_empty_folder_needs_recurse(tmp_path):
    dbutils = DBUtils({})
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "a.txt").write_text("a")

    with pytest.raises(OSError):
        dbutils.fs.rm(str(tmp_path / "full"))

    assert (tmp_path / "full" / "a.txt").exists()


def test_fs_rejects_dbfs_paths():
    dbutils = DBUtils({})

    with pytest.raises(InvalidInput) as info:
        dbutils.fs.ls("dbfs:/mnt/data")

    assert str(info.value) == (
        "dbutils.fs in local runs reads and writes local paths only, not 'dbfs:/mnt/data': "
        "pass a local path, or read the object with Spark."
    )
