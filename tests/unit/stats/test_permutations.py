"""Tests of dnnmap.stats.permutations: the draws pinned to their numpy definitions."""

import numpy as np
import pytest

from dnnmap.errors import InputError
from dnnmap.stats.permutations import exact_permutations, permutation_batches, permutations


def test_keys_draw_is_the_argsort_of_uniform_keys():
    rng = np.random.default_rng(3)
    ref = np.argsort(rng.random((7, 10)), axis=1)
    np.testing.assert_array_equal(permutations(10, 7, 3), ref)
    np.testing.assert_array_equal(permutations(10, 7, 3, draw="keys"), ref)


def test_shuffle_draw_is_generator_permuted():
    rng = np.random.default_rng(5)
    ref = rng.permuted(np.tile(np.arange(9, dtype=np.int64), (6, 1)), axis=1)
    out = permutations(9, 6, 5, draw="shuffle")
    np.testing.assert_array_equal(out, ref)
    assert out.dtype == np.int64
    assert permutations(9, 0, draw="shuffle").shape == (0, 9)


@pytest.mark.parametrize("draw", ["keys", "shuffle"])
def test_batches_equal_one_call(draw):
    whole = permutations(12, 23, 4, draw=draw, groups=np.arange(12) % 3)
    parts = list(permutation_batches(12, 23, 4, 5, draw=draw, groups=np.arange(12) % 3))
    assert [start for start, _ in parts] == [0, 5, 10, 15, 20]
    np.testing.assert_array_equal(np.concatenate([p for _, p in parts]), whole)


@pytest.mark.parametrize("draw", ["keys", "shuffle"])
def test_groups_are_exchangeability_blocks(draw):
    groups = np.array(["b", "a", "b", "c", "a", "c", "b", "a", "a", "c"])
    perms = permutations(10, 50, 1, groups=groups, draw=draw)
    np.testing.assert_array_equal(groups[perms], np.tile(groups, (50, 1)))
    np.testing.assert_array_equal(np.sort(perms, axis=1), np.tile(np.arange(10), (50, 1)))
    assert len({tuple(p) for p in perms}) > 40


def test_exact_permutations():
    perms = exact_permutations(4)
    assert perms.shape == (24, 4)
    np.testing.assert_array_equal(perms[0], np.arange(4))
    with pytest.raises(InputError, match="n <= 8"):
        exact_permutations(9)


def test_bad_input():
    with pytest.raises(InputError, match="n_perm is -1; expected an int >= 0"):
        permutations(5, -1)
    with pytest.raises(InputError, match="n is 0"):
        permutations(0, 5)
    with pytest.raises(InputError, match="draw is 'sorted'; expected one of keys, shuffle"):
        permutations(5, 2, draw="sorted")
    with pytest.raises(InputError, match=r"groups have shape \(3,\); expected one label per row"):
        permutations(5, 2, groups=[0, 1, 2])
    with pytest.raises(InputError, match="batch is 0"):
        list(permutation_batches(5, 2, 0, 0))
