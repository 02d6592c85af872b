"""dnnmap.checks: one wording for every argument check."""

import numpy as np
import pytest

from dnnmap.checks import (
    check_choice,
    check_int,
    check_labels,
    check_matrix,
    check_targets,
    is_int,
)
from dnnmap.errors import InputError


def test_is_int_excludes_bool_and_float():
    assert is_int(3) and is_int(np.int64(3))
    assert not is_int(True) and not is_int(3.0) and not is_int("3")


def test_check_int_bounds_and_type():
    assert check_int(np.int32(4), "n_folds", 2) == 4
    assert type(check_int(np.int32(4), "n_folds", 2)) is int
    with pytest.raises(InputError, match=r"n_folds is 1; expected an integer >= 2"):
        check_int(1, "n_folds", 2)
    with pytest.raises(InputError, match=r"n_folds is 9; expected an integer <= 5"):
        check_int(9, "n_folds", 2, 5)
    with pytest.raises(InputError, match=r"n_perm is True; expected an integer >= 0"):
        check_int(True, "n_perm", 0)


def test_check_choice_lists_options():
    assert check_choice("greater", "tail", ("greater", "less")) == "greater"
    with pytest.raises(InputError, match=r"tail is 'both'; expected one of greater, less"):
        check_choice("both", "tail", ("greater", "less"))


def test_check_matrix_and_targets():
    X = check_matrix([[1, 2], [3, 4]])
    assert X.dtype == np.float64 and X.shape == (2, 2)
    with pytest.raises(InputError, match=r"X has shape \(3,\); expected a 2-D"):
        check_matrix([1, 2, 3])
    with pytest.raises(InputError, match="X contains NaN or inf"):
        check_matrix([[np.nan, 1.0]])
    assert np.isnan(check_matrix([[np.nan, 1.0]], finite=False)).any()
    Y, vector = check_targets([1.0, 2.0], 2)
    assert vector and Y.shape == (2, 1)
    with pytest.raises(InputError, match="Y has 3 rows; expected 2"):
        check_targets(np.zeros((3, 2)), 2)


def test_check_labels():
    assert list(check_labels(["a", "b"], 2, "groups")) == ["a", "b"]
    with pytest.raises(InputError, match=r"groups has shape \(3,\); expected one label per row"):
        check_labels([1, 2, 3], 2, "groups")
    with pytest.raises(InputError, match="groups has missing values"):
        check_labels([1.0, np.nan], 2, "groups")
