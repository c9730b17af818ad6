"""Task arguments as ``-T`` delivers them: what each checker accepts, near its bounds, and the
error that names the argument."""

from __future__ import annotations

import math

import pytest

from auditgame.audit.arguments import (
    TaskArgumentError,
    comma_list,
    optional_text,
    positive_number,
    whole_number,
)


@pytest.mark.parametrize(
    ("value", "minimum", "expected"),
    [(1, 1, 1), (" 12 ", 1, 12), ("3", 3, 3), (4.0, 1, 4), (0, 0, 0), (-2, -5, -2), ("0", 0, 0)],
)
def test_whole_numbers_at_and_above_the_minimum(value, minimum, expected):
    found = whole_number("calls", value, minimum)
    assert found == expected and type(found) is int


@pytest.mark.parametrize(
    ("value", "minimum", "shown"),
    [(0, 1, "0"), ("2", 3, "2"), (2.0, 3, "2"), (True, 1, "True"), (False, 0, "False"),
     (1.5, 1, "1.5"), ("1.5", 1, "'1.5'"), ("ten", 1, "'ten'"), (None, 1, "None"), ("", 1, "''"),
     ([3], 1, "[3]"), (math.inf, 1, "inf")],
)
def test_other_values_are_not_whole_numbers(value, minimum, shown):
    with pytest.raises(TaskArgumentError) as error:
        whole_number("calls", value, minimum)
    assert str(error.value) == f"task argument 'calls': expected a whole number >= {minimum}, got {shown}"
    assert error.value.__cause__ is None
    assert error.value.__context__ is None or error.value.__suppress_context__  # no parse traceback


def test_the_default_minimum_is_one():
    assert whole_number("n", 1) == 1
    with pytest.raises(TaskArgumentError, match=">= 1, got 0"):
        whole_number("n", 0)


@pytest.mark.parametrize(("value", "expected"), [(1, 1.0), (0.5, 0.5), (" 2.5 ", 2.5), ("3", 3.0), (1e-9, 1e-9)])
def test_positive_numbers(value, expected):
    found = positive_number("time_s", value)
    assert found == expected and type(found) is float


@pytest.mark.parametrize(
    ("value", "shown"),
    [(0, "0"), (0.0, "0.0"), (-1, "-1"), ("-0.5", "-0.5"), ("0", "0.0"), (True, "True"),
     (False, "False"), (None, "None"), ("fast", "'fast'"), ("", "''"), (math.inf, "inf"),
     (math.nan, "nan"), ("inf", "inf"), ("nan", "nan"), ([1], "[1]")],
)
def test_other_values_are_not_positive_numbers(value, shown):
    with pytest.raises(TaskArgumentError) as error:
        positive_number("time_s", value)
    assert str(error.value) == f"task argument 'time_s': expected a number > 0, got {shown}"
    assert error.value.__cause__ is None
    assert error.value.__context__ is None or error.value.__suppress_context__  # no parse traceback


@pytest.mark.parametrize(
    ("value", "expected"),
    [("a,b", "a,b"), ("a", "a"), (["a", "b"], "a,b"), (("x",), "x"), (" , a", " , a")],
)
def test_comma_lists(value, expected):
    assert comma_list("tools", value, "basic,prefill") == expected


@pytest.mark.parametrize("value", ["", " ", ",", " , ", [], ["", " "], [1, "a"], None, 3])
def test_an_empty_or_non_text_list_is_refused(value):
    with pytest.raises(TaskArgumentError) as error:
        comma_list("tools", value, "basic,prefill")
    shown = ",".join(value) if isinstance(value, list) and all(isinstance(v, str) for v in value) else value
    assert str(error.value) == (
        "task argument 'tools': expected a non-empty comma-separated list such as "
        f"'basic,prefill', got {shown!r}")


@pytest.mark.parametrize(("value", "expected"), [(None, None), ("", None), ("  ", None),
                                                 (" mockllm/model ", "mockllm/model"), ("x", "x")])
def test_optional_text(value, expected):
    assert optional_text("grader", value) == expected


@pytest.mark.parametrize("value", [3, 0, False, ["m"]])
def test_optional_text_refuses_other_values(value):
    with pytest.raises(TaskArgumentError) as error:
        optional_text("grader", value)
    assert str(error.value) == f"task argument 'grader': expected a model name, got {value!r}"
