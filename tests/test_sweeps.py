"""Sweeps on a Dask LocalCluster of 2 worker processes: the tidy table holds every run, and each run equals the same
run trained in this process (seeded: the workers compute exactly what train() computes here)."""

from __future__ import annotations

import numpy as np
import pytest

import sigprop as sp
from sigprop.training import train

CONFIGS = {
    "tanh DKS": lambda depth: sp.mlp("tanh", depth, init=sp.dks("tanh", depth=depth)),
    "ReLU He": lambda depth: sp.mlp("relu", depth, init=sp.standard("relu", scheme="he")),
}
SETTINGS = {"data": "teacher", "steps": 20, "width": 32, "eval_every": 10}


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_sweep_on_a_local_cluster_of_two_workers():
    seen = []
    res = sp.sweep(CONFIGS, depths=(3, 6), seeds=(0, 1), optimizers=("adam", "sgd"), n_workers=2,
                   progress=lambda done, total: seen.append((done, total)), **SETTINGS)
    t = res.table
    assert len(t) == 2 * 2 * 2 * 2 * 3  # configurations × depths × seeds × optimisers × evaluations (0, 10, 20)
    assert seen[-1] == (16, 16) and len(res.timings) == 16
    assert list(t.columns[:5]) == ["configuration", "depth", "optimizer", "seed", "step"]
    assert not t[["train_loss", "test_loss", "train_accuracy"]].isna().any().any()
    # a run on the cluster is the run here
    here = train(CONFIGS["tanh DKS"](6), optimizer="sgd", seed=1, cache=False, **SETTINGS)
    there = t[(t.configuration == "tanh DKS") & (t.depth == 6) & (t.optimizer == "sgd") & (t.seed == 1)]
    np.testing.assert_allclose(there.train_loss.to_numpy(), here.train_loss, rtol=1e-6)
    summary = res.summary()
    assert len(summary) == 8 and (summary.seeds == 2).all()
    row = summary[(summary.configuration == "tanh DKS") & (summary.depth == 6) & (summary.optimizer == "sgd")]
    runs = [train(CONFIGS["tanh DKS"](6), optimizer="sgd", seed=s, **SETTINGS).second_half_loss for s in (0, 1)]
    np.testing.assert_allclose(row["mean"].iloc[0], np.mean(runs), rtol=1e-6)


@pytest.mark.parametrize("configs, kwargs, match", [
    ({}, {}, "non-empty"),
    ({"a": lambda d: sp.mlp("tanh", d)}, {}, "give depths"),
    ({"a": sp.mlp("tanh", 3)}, {"depths": (5,)}, "depth 3"),
    ({"a": "tanh"}, {"depths": (5,)}, "Network or a function"),
    ({"a": lambda d: "tanh"}, {"depths": (5,)}, "must return"),
    ({"a": sp.mlp("tanh", 3)}, {"optimizer": "adam"}, "set by the sweep"),
    ({"a": sp.mlp("tanh", 3)}, {"optimizers": ("newton",)}, "optimizer must be"),
    ({"a": sp.mlp("tanh", 3)}, {"widht": 64}, "no setting widht"),
    ({"a": sp.mlp("tanh", 3)}, {"data": "mnist"}, "data set"),
])
def test_bad_sweeps_are_refused_before_any_cluster_starts(configs, kwargs, match):
    with pytest.raises(sp.ConfigurationError, match=match):
        sp.sweep(configs, **kwargs)
