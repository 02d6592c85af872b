"""Fixtures of the encoding tests."""

import pytest

from dnnmap.encoding import ridge


@pytest.fixture
def ridge_plans(monkeypatch):
    """A list that gets one entry per decomposition plan :class:`RidgeCV` makes (the
    decompositions of one outer training set and its inner folds), while the test runs."""
    plans = []
    make_plan = ridge.make_plan

    def counting(*args, **kwargs):
        plans.append(1)
        return make_plan(*args, **kwargs)

    monkeypatch.setattr(ridge, "make_plan", counting)
    return plans
