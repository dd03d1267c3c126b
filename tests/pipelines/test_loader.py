"""Loading pipeline files: the one pipeline, its description and parameters, and broken files."""

from __future__ import annotations

import logging
import textwrap

import pytest
from kfp.dsl.graph_component import GraphComponent

from operatorflow.errors import InvalidInput
from operatorflow.pipelines.loader import describe_pipeline, load_pipeline
from operatorflow.settings import PROJECT_DIR
from operatorflow.workflows import Parameter

TAXI_PIPELINE = PROJECT_DIR / "catalog" / "pipelines" / "taxi_tip_trainer.py"

COMPONENT = """
from kfp import dsl


@dsl.component(base_image="python:3.11", install_kfp_package=False)
def echo(text: str) -> str:
    return text
"""


def write_pipeline(tmp_path, body: str, name: str = "pipeline_file.py"):
    path = tmp_path / name
    path.write_text(COMPONENT + textwrap.dedent(body))
    return path


def test_describe_taxi_pipeline_parameters():
    description, parameters = describe_pipeline(TAXI_PIPELINE)

    assert description == (
        "Train a classifier that predicts big tippers (tip above 20% of the fare) from Chicago taxi trips."
    )
    assert [(p.name, p.default) for p in parameters] == [
        ("input_path", "examples/data/chicago_taxi_trips.csv"),
        ("test_fraction", "0.2"),
        ("seed", "42"),
    ]
    assert parameters[2].label == "Random seed of the split and the classifier."


def test_load_taxi_pipeline_returns_graph_component():
    pipeline = load_pipeline(TAXI_PIPELINE)

    assert isinstance(pipeline, GraphComponent)
    assert pipeline.name == "taxi-tip-trainer"


def test_describe_uses_docstring_first_line_and_declaration_order(tmp_path):
    path = write_pipeline(tmp_path, '''
        @dsl.pipeline
        def greeting(zeta: str = "z", alpha: int = 3, ratio: float = 0.5, loud: bool = False,
                     tags: list = ["a"], output_path: str = "", missing: str = None):
            """Say hello to the world.

            A longer explanation that the catalog does not show.
            """
            echo(text=zeta)
        ''')

    description, parameters = describe_pipeline(path)

    assert description == "Say hello to the world."
    assert parameters == [
        Parameter("zeta", "z", type="String"),
        Parameter("alpha", "3", type="Integer"),
        Parameter("ratio", "0.5", type="Float"),
        Parameter("loud", "false", type="Boolean"),
        Parameter("tags", '["a"]', type="List"),
        Parameter("missing", "", type="String"),
    ]


def test_describe_reads_changed_file_again(tmp_path):
    path = write_pipeline(tmp_path, '''
        @dsl.pipeline(description="First version.")
        def changing(text: str = "one"):
            echo(text=text)
        ''')
    describe_pipeline(path)
    write_pipeline(tmp_path, '''
        @dsl.pipeline(description="Second version, with a longer description.")
        def changing(text: str = "two", count: int = 2):
            echo(text=text)
        ''')

    description, parameters = describe_pipeline(path)

    assert description == "Second version, with a longer description."
    assert [p.name for p in parameters] == ["text", "count"]


def test_file_without_pipeline_is_rejected(tmp_path):
    path = write_pipeline(tmp_path, "VALUE = 1\n")

    with pytest.raises(InvalidInput) as raised:
        describe_pipeline(path)

    assert str(raised.value) == (
        f"Pipeline file {path} defines no pipeline: decorate one function with @dsl.pipeline from kfp."
    )


def test_file_with_two_pipelines_is_rejected(tmp_path):
    path = write_pipeline(tmp_path, '''
        @dsl.pipeline(name="first")
        def first(text: str = "a"):
            echo(text=text)


        @dsl.pipeline(name="second")
        def second(text: str = "b"):
            echo(text=text)
        ''')

    with pytest.raises(InvalidInput) as raised:
        load_pipeline(path)

    assert str(raised.value) == (
        f"Pipeline file {path} defines 2 pipelines (first, second): keep exactly one @dsl.pipeline "
        "function per file and move the others to files of their own."
    )


def test_pipeline_imported_from_other_file_is_not_counted(tmp_path):
    write_pipeline(tmp_path, '''
        @dsl.pipeline(name="inner")
        def inner(text: str = "a"):
            echo(text=text)
        ''', name="inner_steps.py")
    path = tmp_path / "outer.py"
    path.write_text(textwrap.dedent(f'''
        import importlib.util

        from kfp import dsl

        _spec = importlib.util.spec_from_file_location("inner_steps_for_test", r"{tmp_path / 'inner_steps.py'}")
        _module = importlib.util.module_from_spec(_spec)
        _spec.loader.exec_module(_module)


        @dsl.pipeline(name="outer")
        def outer(text: str = "b"):
            _module.inner(text=text)
        '''))

    pipeline = load_pipeline(path)

    assert pipeline.name == "outer"


def test_syntax_error_names_file_and_line(tmp_path):
    path = tmp_path / "broken.py"
    path.write_text("from kfp import dsl\n\n\ndef oops(:\n    pass\n")

    with pytest.raises(InvalidInput) as raised:
        describe_pipeline(path)

    assert str(raised.value) == (
        f"Pipeline file {path} failed to import: SyntaxError: invalid syntax (line 4). "
        "Fix the file and reload the catalog."
    )


def test_error_while_importing_names_line(tmp_path):
    path = write_pipeline(tmp_path, '''
        THRESHOLD = int("ten")
        ''')
    line = path.read_text().splitlines().index('THRESHOLD = int("ten")') + 1

    with pytest.raises(InvalidInput) as raised:
        load_pipeline(path)

    assert str(raised.value) == (
        f"Pipeline file {path} failed to import: ValueError: invalid literal for int() with base 10: 'ten' "
        f"(line {line}). Fix the file and reload the catalog."
    )


def test_missing_file_is_rejected(tmp_path):
    path = tmp_path / "absent.py"

    with pytest.raises(InvalidInput) as raised:
        describe_pipeline(path)

    assert str(raised.value) == f"Cannot read pipeline file {path}: No such file or directory. Check that the file exists."


def test_kfp_warning_while_importing_is_logged(tmp_path, caplog):
    path = tmp_path / "default_image.py"
    path.write_text(textwrap.dedent('''
        from kfp import dsl


        @dsl.component(install_kfp_package=False)
        def echo(text: str) -> str:
            return text


        @dsl.pipeline(name="default-image")
        def default_image(text: str = "a"):
            echo(text=text)
        '''))
    caplog.set_level(logging.WARNING, logger="operatorflow.pipelines.loader")

    description, parameters = describe_pipeline(path)

    assert [p.name for p in parameters] == ["text"]
    warnings_logged = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(
        message.startswith(f"Pipeline file {path}: FutureWarning: The default base_image")
        for message in warnings_logged
    )
