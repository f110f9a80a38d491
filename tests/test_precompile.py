"""fastnn.precompile: which configurations it compiles, and its refusals. (That a later process
then compiles nothing is tests/test_numba_cache.py's, in the slow tier.)"""

import numpy as np
import pytest

from fastnn.precompile import Configuration, configurations


def test_every_combination_once_in_the_order_of_the_choices():
    found = configurations(["float64", np.float32, "float64"], [1, 0, 1], [False], ["numbers", "labels"])
    assert found == [Configuration(dtype, depth, False, targets) for dtype in ("float64", "float32")
                     for depth in (1, 0) for targets in ("numbers", "labels")]
    assert len(configurations()) == 2 * 4 * 2 * 2
    assert str(Configuration("float32", 1, True, "labels")) == "float32, 1 hidden layer, sparse input, labels"


@pytest.mark.parametrize("choices, message", [
    (dict(dtypes="float32"), "dtypes must be a non-empty list or tuple, got 'float32'"),
    (dict(dtypes=[]), "dtypes must be a non-empty list or tuple, got []"),
    (dict(dtypes=["float16"]), "dtypes must be float32 or float64"),
    (dict(dtypes=["nonsense"]), "dtypes must be float32 or float64"),
    (dict(hidden_layers=2), "hidden_layers must be a non-empty list or tuple, got 2"),
    (dict(hidden_layers=[1.7]), "hidden_layers must be integers from 0 to 31, got [1.7]"),
    (dict(hidden_layers=[32]), "hidden_layers must be integers from 0 to 31, got [32]"),
    (dict(hidden_layers=[True]), "hidden_layers must be integers from 0 to 31, got [True]"),
    (dict(sparse="no"), "sparse must be a non-empty list or tuple, got 'no'"),
    (dict(sparse=["False"]), "sparse must hold True and/or False, got ['False']"),
    (dict(targets="labels"), "targets must be a non-empty list or tuple, got 'labels'"),
    (dict(targets=["classes"]), "targets must be 'labels' and/or 'numbers', got ['classes']"),
])
def test_bad_choices_are_refused_before_anything_compiles(choices, message):
    with pytest.raises(ValueError) as raised:
        configurations(**choices)
    assert str(raised.value).startswith(message)
