"""Cross-validation splits of stimuli: the outer loop of encoding and decoding models.

A :class:`Splits` holds explicit (train, test) index pairs, so every estimator, every
permutation and every peer library can be run on identical folds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Splits:
    """Outer cross-validation splits over ``n`` stimuli.

    Attributes
    ----------
    n : int
        Number of stimuli (rows).
    train : list of int arrays
        Training row indices of each split.
    test : list of int arrays
        Test row indices of each split.
    repeat : int array of shape (n_splits,)
        Repeat of each split; the test sets within one repeat are disjoint.
    scheme : str
        ``kfold``, ``repeated_kfold``, ``loo``, ``group`` or ``split``.
    params : dict
        The scheme's settings (JSON-able), stored in output attrs.
    """

    n: int
    train: list[np.ndarray]
    test: list[np.ndarray]
    repeat: np.ndarray
    scheme: str
    params: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.train)

    @property
    def n_repeats(self) -> int:
        return int(self.repeat.max()) + 1 if len(self.repeat) else 0
