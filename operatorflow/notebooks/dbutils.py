"""A local stand-in for Databricks' `dbutils`: widgets, `notebook.exit` and a few `fs` calls on local paths."""

from __future__ import annotations

import shutil
from collections import namedtuple
from pathlib import Path

from operatorflow.errors import InvalidInput


class InputWidgetNotDefined(InvalidInput):
    """Raised when a notebook reads a widget that it never declared and that is not a parameter of the run.

    Named after the error that Databricks raises in the same case.
    """


class NotebookExit(BaseException):
    """Raised by `dbutils.notebook.exit` and caught by the runner, which records `value` as the result.

    It derives from BaseException so that a notebook's `except Exception:` does not swallow the exit.
    """

    def __init__(self, value: str) -> None:
        super().__init__(value)
        self.value = value


FileInfo = namedtuple("FileInfo", ["path", "name", "size", "modificationTime"])
"""An entry of `dbutils.fs.ls` with the fields of Databricks' own. `modificationTime` is in milliseconds."""


class WidgetsUtils:
    """`dbutils.widgets`: the run's parameters override the defaults that the notebook declares."""

    def __init__(self, arguments: dict[str, str] | None = None) -> None:
        self._arguments = dict(arguments or {})
        self._declared: dict[str, str] = {}
        self._choices: dict[str, tuple[str, ...]] = {}

    def text(self, name: str, defaultValue: str, label: str | None = None) -> None:
        self._declare(name, defaultValue)

    def dropdown(self, name: str, defaultValue: str, choices: list[str], label: str | None = None) -> None:
        self._declare(name, defaultValue, choices)
        self._check_choices(name, [self.get(name)])

    def combobox(self, name: str, defaultValue: str, choices: list[str], label: str | None = None) -> None:
        # A combobox suggests its choices but accepts any text.
        self._declare(name, defaultValue, choices)

    def multiselect(self, name: str, defaultValue: str, choices: list[str], label: str | None = None) -> None:
        self._declare(name, defaultValue, choices)
        selected = [value for value in self.get(name).split(",") if value]
        self._check_choices(name, selected)

    def get(self, name: str) -> str:
        """Return the run's value for the widget, or its declared default when the run gave none."""
        if name in self._arguments:
            return self._arguments[name]
        if name in self._declared:
            return self._declared[name]
        declared = ", ".join(sorted(self._declared)) or "none"
        raise InputWidgetNotDefined(
            f"Widget {name!r} is not declared; declared widgets: {declared}. "
            f"Declare it first, for example dbutils.widgets.text({name!r}, \"\")."
        )

    def getArgument(self, name: str, defaultValue: str | None = None) -> str | None:
        """Return the widget's value, or `defaultValue` when the widget is neither declared nor given."""
        try:
            return self.get(name)
        except InputWidgetNotDefined:
            return defaultValue

    def getAll(self) -> dict[str, str]:
        """Return every declared widget and every parameter of the run with its current value."""
        return {**self._declared, **self._arguments}

    def remove(self, name: str) -> None:
        if name not in self._declared:
            declared = ", ".join(sorted(self._declared)) or "none"
            raise InputWidgetNotDefined(
                f"Cannot remove widget {name!r}: it is not declared; declared widgets: {declared}."
            )
        del self._declared[name]
        self._choices.pop(name, None)

    def removeAll(self) -> None:
        self._declared.clear()
        self._choices.clear()

    def _declare(self, name: str, default: str, choices: list[str] | None = None) -> None:
        if not isinstance(name, str) or not name:
            raise InvalidInput(f"Invalid widget name {name!r}: use a non-empty string.")
        # Declaring an existing widget again keeps the first declaration, as re-running a cell does.
        self._declared.setdefault(name, str(default))
        if choices is not None:
            self._choices.setdefault(name, tuple(str(choice) for choice in choices))

    def _check_choices(self, name: str, values: list[str]) -> None:
        choices = self._choices.get(name, ())
        invalid = [value for value in values if value not in choices]
        if invalid:
            raise InvalidInput(
                f"Invalid value {', '.join(map(repr, invalid))} for widget {name!r}: "
                f"choose from {', '.join(choices) or 'no choices'}."
            )


class NotebookUtils:
    """`dbutils.notebook`: only `exit`, because `run` needs a workspace of notebooks."""

    def exit(self, value: object) -> None:
        raise NotebookExit(str(value))

    def run(self, path: str, timeout_seconds: int = 0, arguments: dict[str, str] | None = None) -> str:
        raise InvalidInput(
            f"dbutils.notebook.run({path!r}) is not supported by the local engine yet: "
            "inline the notebook or use a Python import."
        )


class FsUtils:
    """`dbutils.fs` for local paths and `file:` URIs; `dbfs:` and object-store URIs are rejected."""

    def ls(self, dir: str) -> list[FileInfo]:
        path = _local_path(dir)
        if path.is_file():
            return [_file_info(path)]
        if not path.is_dir():
            raise FileNotFoundError(f"File {dir} does not exist: check the path.")
        return [_file_info(child) for child in sorted(path.iterdir())]

    def head(self, file: str, maxBytes: int = 65536) -> str:
        with open(_local_path(file), "rb") as handle:
            return handle.read(maxBytes).decode("utf-8", errors="replace")

    def put(self, file: str, contents: str, overwrite: bool = False) -> bool:
        path = _local_path(file)
        if path.exists() and not overwrite:
            raise FileExistsError(f"File {file} already exists: pass overwrite=True to replace it.")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(contents, encoding="utf-8")
        return True

    def mkdirs(self, dir: str) -> bool:
        _local_path(dir).mkdir(parents=True, exist_ok=True)
        return True

    def rm(self, dir: str, recurse: bool = False) -> bool:
        """Remove a file or folder. Return False when nothing existed at the path."""
        path = _local_path(dir)
        if path.is_dir() and not path.is_symlink():
            if not recurse and any(path.iterdir()):
                raise OSError(f"Folder {dir} is not empty: pass recurse=True to remove it.")
            shutil.rmtree(path)
            return True
        if path.exists() or path.is_symlink():
            path.unlink()
            return True
        return False

    def cp(self, from_: str, to: str, recurse: bool = False) -> bool:
        source, target = _local_path(from_), _local_path(to)
        if source.is_dir():
            if not recurse:
                raise IsADirectoryError(f"{from_} is a folder: pass recurse=True to copy it.")
            shutil.copytree(source, target, dirs_exist_ok=True)
            return True
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        return True


class DBUtils:
    """The `dbutils` object that local notebook runs see."""

    def __init__(self, arguments: dict[str, str] | None = None) -> None:
        self.widgets = WidgetsUtils(arguments)
        self.notebook = NotebookUtils()
        self.fs = FsUtils()


def _local_path(location: str) -> Path:
    if location.startswith("file:"):
        # `file:/a` and `file:///a` both name the absolute path `/a`.
        location = location[len("file:"):]
        if location.startswith("/"):
            location = "/" + location.lstrip("/")
    elif "://" in location or location.startswith("dbfs:"):
        raise InvalidInput(
            f"dbutils.fs in local runs reads and writes local paths only, not {location!r}: "
            "pass a local path, or read the object with Spark."
        )
    return Path(location)


def _file_info(path: Path) -> FileInfo:
    stat = path.stat()
    name = path.name + "/" if path.is_dir() else path.name
    uri = "file:" + str(path.resolve()) + ("/" if path.is_dir() else "")
    size = 0 if path.is_dir() else stat.st_size
    return FileInfo(uri, name, size, int(stat.st_mtime * 1000))
