"""Sweeps: configurations × depths × seeds × optimisers, trained on a Dask cluster, as one tidy table.

Each (configuration, depth, seed, optimiser) is one :func:`sigprop.training.train` task. The tasks run on
``dask.distributed`` (a :class:`~distributed.LocalCluster` of worker *processes* by default: JAX releases the GIL
only in parts, so processes rather than threads keep both cores busy; pass ``address`` or ``client`` for a real
cluster). The networks are built (and their DKS/TAT shapings solved) where :func:`sweep` is called and sent to the
workers, so workers need sigprop installed but solve nothing.

>>> res = sp.sweep({"DKS": lambda L: sp.mlp("tanh", L, init=sp.dks("tanh", depth=L)),
...                 "EOC": lambda L: sp.mlp("tanh", L, init=sp.eoc("tanh", sigma_b=0.22))},
...                depths=(10, 50), seeds=(0, 1, 2), optimizers=("adam", "kfac"), steps=100)
>>> res.table            # one row per evaluated step of every run (pandas DataFrame)
>>> res.summary()        # per configuration, depth and optimiser: second-half training loss over seeds
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from .errors import ConfigurationError

MAX_TASKS = 10_000


@dataclass(frozen=True)
class SweepResult:
    """``table``: tidy rows (configuration, depth, seed, optimizer, step, train/test loss and accuracy, ...);
    ``timings``: per task, compile_s / step_ms / total_s."""

    table: object = field(repr=False)
    timings: object = field(repr=False)

    def summary(self, metric: str = "train_loss"):
        """Per (configuration, depth, optimizer): the mean over the evaluations in the second half of each run of
        ``metric``, then its mean and standard deviation over seeds."""
        t = self.table
        last = t.groupby(["configuration", "depth", "seed", "optimizer"])["step"].transform("max")
        half = t[t["step"] >= last / 2]
        per_seed = half.groupby(["configuration", "depth", "optimizer", "seed"])[metric].mean()
        out = per_seed.groupby(["configuration", "depth", "optimizer"]).agg(["mean", "std", "count"])
        return out.rename(columns={"count": "seeds"}).reset_index()


def _task(name, depth, net, seed, optimizer, kwargs):
    from .training import train

    res = train(net, optimizer=optimizer, seed=seed, **kwargs)
    rows = [{"configuration": name, **row, "depth": depth} for row in res.rows()]
    return rows, {"configuration": name, "depth": depth, "seed": seed, "optimizer": optimizer, **res.timings}


def _networks(configurations, depths):
    from .network.network import Network

    if not isinstance(configurations, Mapping) or not configurations:
        raise ConfigurationError("configurations must be a non-empty mapping name -> Network or depth -> Network")
    out = []
    for name, conf in configurations.items():
        if isinstance(conf, Network):
            if depths is not None and conf.depth not in depths:
                raise ConfigurationError(f"configuration {name!r} is a network of depth {conf.depth}; give a "
                                         "function of the depth to sweep depths")
            out.append((name, conf.depth, conf))
        elif callable(conf):
            if depths is None:
                raise ConfigurationError(f"configuration {name!r} is a function of the depth: give depths=...")
            for depth in depths:
                net = conf(depth)
                if not isinstance(net, Network):
                    raise ConfigurationError(f"configuration {name!r} must return a sigprop Network, got "
                                             f"{type(net).__name__}")
                out.append((name, depth, net))
        else:
            raise ConfigurationError(f"configuration {name!r} must be a Network or a function of the depth, got "
                                     f"{type(conf).__name__}")
    return out


def sweep(configurations: Mapping[str, object], depths=None, seeds=(0, 1, 2), optimizers=("adam",), *,
          client=None, address: str | None = None, n_workers: int = 2, progress: Callable | None = None,
          **train_kwargs) -> SweepResult:
    """Train every configuration at every depth, seed and optimiser on a Dask cluster (see the module docstring).

    ``configurations``: name -> :class:`~sigprop.Network`, or name -> function of the depth returning one (then
    ``depths`` is required). ``client``: a ``distributed.Client`` to use; else ``address`` (a scheduler such as
    "tcp://10.0.0.5:8786"); else a LocalCluster of ``n_workers`` single-threaded worker processes, closed at the
    end. ``train_kwargs`` go to :func:`sigprop.training.train` (data, steps, width, batch_size, ...).
    ``progress(done, total)`` after each finished task. Returns a :class:`SweepResult`.
    """
    import pandas as pd
    from distributed import Client, LocalCluster, as_completed

    nets = _networks(configurations, None if depths is None else tuple(depths))
    seeds, optimizers = tuple(seeds), tuple(optimizers)
    if not seeds or not optimizers:
        raise ConfigurationError("seeds and optimizers must not be empty")
    tasks = list(itertools.product(nets, seeds, optimizers))
    if len(tasks) > MAX_TASKS:
        raise ConfigurationError(f"the sweep has {len(tasks):,} runs; at most {MAX_TASKS:,}")
    for key in ("optimizer", "seed", "callback", "stop"):
        if key in train_kwargs:
            raise ConfigurationError(f"{key!r} is set by the sweep itself")
    from .training import check_settings

    for (_, _, net), _, opt in tasks[:1] + tasks[-1:]:  # the settings are checked here, not on a worker
        check_settings(net, opt, **train_kwargs)

    own = None
    if client is None:
        if address is not None:
            client = own = Client(address)
        else:
            cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None)
            client = own = Client(cluster)
    try:
        futures = [client.submit(_task, name, depth, net, seed, opt, train_kwargs, pure=False)
                   for (name, depth, net), seed, opt in tasks]
        rows, timings = [], []
        for done, fut in enumerate(as_completed(futures), start=1):
            r, t = fut.result()
            rows += r
            timings.append(t)
            if progress is not None:
                progress(done, len(futures))
    finally:
        if own is not None:
            cluster = own.cluster
            own.close()
            if cluster is not None:
                cluster.close()
    table = pd.DataFrame(rows)
    order = ["configuration", "depth", "optimizer", "seed", "step"]
    table = table.sort_values(order, kind="stable").reset_index(drop=True)
    cols = order + [c for c in table.columns if c not in order]
    return SweepResult(table=table[cols], timings=pd.DataFrame(timings))

