"""Names that follow the settings, distinct colours, sensible new configurations, the view's settings in the URL,
the explanations (issue 11), without a server or browser."""

from __future__ import annotations

import pytest

from sigprop_app import Configuration, Dashboard, data, urlstate
from sigprop_app.config import PALETTE
from sigprop_app.dashboard import PLOTS, distinct_colours
from sigprop_app.explain import EXPLANATIONS, katex_css


@pytest.mark.parametrize(
    ("settings", "name"),
    [
        ({"activation": "tanh", "method": "dks", "zeta": 1.5}, "tanh · DKS ζ=1.5 · L=100"),
        ({"activation": "tanh", "method": "dks", "zeta": 4.81}, "tanh · DKS ζ=4.81 · L=100"),
        ({"activation": "softplus", "method": "dks", "zeta": 4.81}, "softplus · DKS ζ=4.81 · L=100"),
        ({"activation": "relu", "method": "standard", "scheme": "he"}, "ReLU · He · L=100"),
        ({"activation": "relu", "method": "looks_linear"}, "ReLU · Looks-Linear · L=100"),
        ({"activation": "tanh", "method": "eoc", "sigma_b": 0.22, "depth": 1000}, "tanh · EOC σ_b=0.22 · L=1,000"),
        ({"activation": "leaky_relu", "method": "tat", "eta": 0.9}, "leaky ReLU · TAT η=0.9 · L=100"),
        ({"activation": "gelu", "method": "tat", "tau": 0.3}, "GELU · TAT τ=0.3 · L=100"),
        ({"activation": "tanh", "method": "standard", "scheme": "custom", "sigma_w": 1.2, "sigma_b": 0.3},
         "tanh · σ_w=1.2 σ_b=0.3 · L=100"),
        ({"activation": "relu", "method": "eoc", "architecture": "residual", "shortcut_weight": 0.6},
         "ReLU · EOC · residual w=0.6 · L=100"),
    ],
)
def test_the_name_follows_the_settings(settings, name):
    assert Configuration(**settings).label() == name


def test_a_typed_name_sticks_until_it_is_cleared():
    cfg = Configuration(activation="tanh", method="dks", title="my net")
    cfg.zeta = 3.0
    assert cfg.label() == "my net"
    cfg.title = "  "
    assert cfg.label() == "tanh · DKS ζ=3 · L=100"


def test_a_long_expression_is_cut_in_the_name():
    cfg = Configuration(activation="tanh(x) + 0.1*x + 0.01*x*x + 0.001*x*x*x + 0.0001*x*x*x*x", method="eoc")
    act = cfg.label().split(" · ")[0]
    assert len(act) == 30 and act.endswith("…")


def test_legends_follow_edits_in_place_and_copies_are_told_apart():
    d = Dashboard(configurations=[Configuration(activation="tanh", method="dks", zeta=1.5, depth=10)],
                  sync_url=False)
    fig = d.live("c_map").figure
    d.configurations[0].zeta = 2.5
    assert d.live("c_map").figure is fig  # updated, not rebuilt
    assert [item.label.value for item in fig.legend.items] == ["identity", "tanh · DKS ζ=2.5 · L=10"]
    copy = d.duplicate(d.configurations[0])
    assert copy.label() == "tanh · DKS ζ=2.5 · L=10 (2)" and copy.colour != d.configurations[0].colour
    copy.zeta = 3.0
    assert [c.label() for c in d.configurations] == ["tanh · DKS ζ=2.5 · L=10", "tanh · DKS ζ=3 · L=10"]


def test_phase_diagram_click_renames_the_configuration():
    d = Dashboard(configurations=[Configuration(activation="tanh", method="eoc", sigma_b=0.22, depth=10)],
                  sync_url=False)
    d._on_tap(1.44, 0.09)  # σ_w² = 1.44, σ_b² = 0.09
    assert d.configurations[0].label() == "tanh · σ_w=1.2 σ_b=0.3 · L=10"


def test_a_new_configuration_is_tanh_at_its_edge_of_chaos_not_a_vanishing_signal():
    d = Dashboard(configurations=[Configuration(activation="relu", method="standard", scheme="he", depth=10)],
                  sync_url=False)
    cfg = d.add()
    assert (cfg.activation, cfg.method, cfg.sigma_b, cfg.depth) == ("tanh", "eoc", 0.22, 10)
    assert cfg.colour not in {c.colour for c in d.configurations[:-1]}
    # σ_b = 0 (the old default) has q* = 0: the signal vanishes and the network is nearly linear
    assert d.readouts()[-1]["q*"] > 0.1


def test_configurations_without_colours_get_distinct_ones():
    configs = [Configuration() for _ in range(len(PALETTE) + 1)]
    distinct_colours(configs)
    assert [c.colour for c in configs[: len(PALETTE)]] == list(PALETTE)
    d = Dashboard(configurations=[Configuration(), Configuration()], sync_url=False)
    assert d.configurations[0].colour != d.configurations[1].colour


def test_tat_shows_and_keys_only_the_target_that_applies():
    assert data.tat_target("leaky_relu") == "eta" and data.tat_target("gelu") == "tau"
    leaky = Configuration(activation="leaky_relu", method="tat")
    assert leaky.spec() == Configuration(activation="leaky_relu", method="tat", tau=5.0).spec()
    smooth = Configuration(activation="tanh", method="tat")
    assert smooth.spec() == Configuration(activation="tanh", method="tat", eta=0.1).spec()
    editor = smooth.editor()
    assert editor is not None
    assert smooth._widgets["tau"].visible and not smooth._widgets["eta"].visible
    smooth.activation = "leaky_relu"
    assert smooth._widgets["eta"].visible and not smooth._widgets["tau"].visible


def test_view_settings_round_trip_and_bad_ones_are_refused():
    d = Dashboard(configurations=[Configuration(depth=10), Configuration(depth=20)], sync_url=False)
    assert d._view() == {}
    view = {"active": "1", "present": "1", "tab": "3", "theme": "dark", "width": "256", "data": "teacher",
            "opt": "kfac", "steps": "50"}
    assert d._apply_view(view) == []
    assert (d.active, d.presentation, d.plot_tab, d.theme, d.finite_width, d.train_data, d.train_optimizer,
            d.train_steps) == (1, True, 3, "dark", 256, "teacher", "kfac", 50)
    assert {k: str(int(v) if isinstance(v, bool) else v) for k, v in d._view().items()} == view
    states, decoded, problems = urlstate.decode(urlstate.encode([c.state() for c in d.configurations], d._view()))
    assert decoded == view and problems == []
    problems = d._apply_view({"width": "13", "present": "yes", "theme": "<b>", "tab": "99", "steps": "x"})
    assert len(problems) == 4 and d.plot_tab == 4  # a tab beyond the last shows the last


def test_reset_restores_the_default_view():
    d = Dashboard(configurations=[Configuration(depth=10)], sync_url=False)
    d.param.update(plot_tab=2, finite_width=256, train_steps=50)
    d.reset()
    assert d._view() == {} and len(d.configurations) == 4


def test_every_plot_and_table_has_an_explanation_with_a_formula():
    assert set(EXPLANATIONS) == {key for key, _ in PLOTS} | {"readouts", "constants"}
    for text, tex in EXPLANATIONS.values():
        assert len(text) > 60 and tex.strip()
    css = katex_css()
    assert ".katex" in css and "@font-face" not in css


def test_the_phase_diagram_of_a_configuration_whose_method_fails_is_still_drawn():
    """GELU has no edge of chaos at σ_b = 0 (q diverges from q₀ = 1 before χ₁ reaches 1), but its diagram only
    needs φ: it is drawn, with its χ₁ = 1 line and no point, so a click can pick a working (σ_w², σ_b²)."""
    from sigprop_app import specs

    cfg = Configuration(activation="gelu", method="eoc", sigma_b=0.0, depth=10)
    assert cfg.compute() is None and "UnachievableError" in cfg.error
    view = specs.phase_view(cfg)
    assert view.phase is not None and view.point is None and view.eoc_lines
    assert "no working point" in view.title
    assert not cfg.missing(("phase",))
    d = Dashboard(configurations=[cfg], sync_url=False)
    d._on_tap(1.5, 0.3)  # a click gives a Standard network that works
    assert cfg.compute() is not None and cfg.error == ""
    refused = Configuration(activation="__import__('os')", method="eoc")
    assert specs.phase_view(refused).phase is None
