"""Small data sets that ship offline, prepared as the kernel analysis assumes its inputs: each example centred by
the training set's mean and scaled to ``|x|²/d = 1`` (q₀ = 1 for the first pre-activations, the per-example
normalisation of Martens et al. 2021, arXiv:2110.01765, §"data pre-processing").

- :func:`digits`: scikit-learn's bundled handwritten digits (UCI optdigits: 1,797 8 × 8 images, 10 classes),
  read from the package itself (no download);
- :func:`teacher`: a synthetic task, labels from a fixed random teacher network (reproducible from its seed).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from .errors import ConfigurationError


@dataclass(frozen=True)
class Dataset:
    """Train and test arrays (float32 inputs normalised to |x|²/d = 1; int32 labels)."""

    name: str
    x_train: np.ndarray = field(repr=False)
    y_train: np.ndarray = field(repr=False)
    x_test: np.ndarray = field(repr=False)
    y_test: np.ndarray = field(repr=False)
    classes: int

    @property
    def features(self) -> int:
        return self.x_train.shape[1]


def _normalise(x_train, x_test):
    mean = x_train.mean(axis=0)
    out = []
    for x in (x_train, x_test):
        x = x - mean
        norm = np.sqrt(np.mean(x * x, axis=1, keepdims=True))
        out.append((x / np.where(norm > 0, norm, 1.0)).astype(np.float32))
    return out


def _split(x, y, test_fraction: float, seed: int):
    order = np.random.default_rng(seed).permutation(len(x))
    n_test = int(round(test_fraction * len(x)))
    test, train = order[:n_test], order[n_test:]
    x_train, x_test = _normalise(x[train].astype(float), x[test].astype(float))
    return x_train, y[train].astype(np.int32), x_test, y[test].astype(np.int32)


def _digits_arrays():
    """scikit-learn's bundled ``datasets/data/digits.csv.gz`` (what ``load_digits`` reads), read directly: importing
    scikit-learn costs ~0.8 s, reading the file ~30 ms. Falls back to ``load_digits`` if the file moved."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("sklearn")
    path = Path(spec.origin).parent / "datasets" / "data" / "digits.csv.gz" if spec and spec.origin else None
    if path is not None and path.is_file():
        table = np.loadtxt(path, delimiter=",")
        return table[:, :-1], table[:, -1].astype(int)
    from sklearn.datasets import load_digits

    data = load_digits()
    return data.data, data.target


@lru_cache(maxsize=4)
def digits(test_fraction: float = 0.25, seed: int = 0) -> Dataset:
    """scikit-learn's handwritten digits: 1,797 images of 8 × 8 pixels (64 features), 10 classes; a seeded split
    (default 1,348 train / 449 test)."""
    x, y = _digits_arrays()
    return Dataset("digits", *_split(x, y, test_fraction, seed), classes=10)


@lru_cache(maxsize=4)
def teacher(examples: int = 2048, features: int = 32, classes: int = 10, seed: int = 0,
            test_fraction: float = 0.25) -> Dataset:
    """A teacher task: Gaussian inputs, labels ``argmax(W₂ tanh(W₁ x))`` of a random width-64 teacher (N(0, 1/fan-in)
    weights, scaled so its logits have unit variance)."""
    for name, value in (("examples", examples), ("features", features), ("classes", classes)):
        if not isinstance(value, int) or value < 2 or value > 1_000_000:
            raise ConfigurationError(f"{name} must be a whole number in [2, 1,000,000], got {value!r}")
    rng = np.random.default_rng([seed, 7])
    x = rng.standard_normal((examples, features))
    w1 = rng.standard_normal((features, 64)) * (2.0 / math.sqrt(features))
    w2 = rng.standard_normal((64, classes)) / math.sqrt(64)
    y = np.argmax(np.tanh(x @ w1) @ w2, axis=1)
    return Dataset("teacher", *_split(x, y, test_fraction, seed), classes=classes)


DATASETS = {"digits": digits, "teacher": teacher}


def dataset(name_or_data) -> Dataset:
    """A :class:`Dataset` by name ("digits", "teacher") or passed through."""
    if isinstance(name_or_data, Dataset):
        return name_or_data
    if name_or_data not in DATASETS:
        raise ConfigurationError(f"unknown data set {name_or_data!r}; choose one of {sorted(DATASETS)} or pass a "
                                 "sigprop.datasets.Dataset")
    return DATASETS[name_or_data]()
