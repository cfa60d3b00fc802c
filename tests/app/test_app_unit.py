"""The dashboard's Python layer without a server or browser: URL state, caching keys, builders, export,
error handling, notebook display."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from pathlib import Path

import holoviews as hv
import numpy as np
import pytest

from sigprop_app import Configuration, Dashboard, data, export, plots, specs, urlstate
from sigprop_app.config import DEPTH_STOPS
from sigprop_app.presets import DEFAULT, PRESETS


@pytest.fixture(scope="module", autouse=True)
def _bokeh():
    hv.extension("bokeh")


def test_url_state_round_trips():
    states = [
        {**Configuration().state(), "title": "a & b", "activation": "tanh(x) + 0.1*x", "method": "dks", "zeta": 2.5},
        {
            **Configuration().state(),
            "colour": "#123456",
            "architecture": "residual",
            "shortcut_weight": 0.6,
            "depth": 1234,
            "sigma_b": 0.05,
        },
    ]
    query = urlstate.encode(states, {"active": 1, "present": True, "tab": 3, "theme": "dark"})
    decoded_states, view, problems = urlstate.decode(query)
    assert (view, problems) == ({"active": "1", "present": "1", "tab": "3", "theme": "dark"}, [])
    for original, decoded in zip(states, decoded_states):
        rebuilt = {**Configuration().state(), **decoded}
        assert rebuilt == original


def test_url_state_rejects_bad_values_without_executing():
    states, view, problems = urlstate.decode("n=2&c0.L=abc&c9.L=5&c1.zzz=1&active=7&foo=1")
    assert view == {"active": "7"}  # (the dashboard clamps it: test_dashboard_view_settings_round_trip)
    assert len(states) == 2 and states[0] == {} and len(problems) == 4
    assert urlstate.decode("foo=1") is None


def test_spec_ignores_parameters_the_method_does_not_use():
    a = Configuration(method="dks", zeta=2.0, sigma_b=0.3, eta=0.5).spec()
    b = Configuration(method="dks", zeta=2.0, sigma_b=0.0, eta=0.9).spec()
    assert a == b and hash(a) == hash(b)
    assert Configuration(method="eoc", sigma_b=0.3).spec() != Configuration(method="eoc", sigma_b=0.0).spec()


def test_depth_stops_cover_one_to_ten_thousand_on_a_log_scale():
    stops = np.asarray(DEPTH_STOPS)
    assert stops[0] == 1 and stops[-1] == 10_000 and np.all(np.diff(stops) > 0)
    ratios = stops[1:] / stops[:-1]
    assert ratios[stops[1:] > 30].max() < 1.11  # about 24 stops per decade once integers allow it


def test_unsafe_expression_is_an_error_and_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    cfg = Configuration(activation=f"__import__('os').system('touch {marker}')")
    assert cfg.compute() is None
    assert cfg.error.startswith("ActivationError")
    assert not marker.exists()
    # its plots are empty series of the same shape; the plot still builds
    overlay = plots.c_map_plot([cfg, Configuration(activation="relu", method="standard", scheme="he", depth=10)])
    assert isinstance(overlay, hv.Overlay)


def test_every_builder_returns_holoviews_with_each_configuration():
    configs = [
        Configuration(title="relu", activation="relu", method="standard", scheme="he", depth=20),
        Configuration(title="linear", activation="relu", method="looks_linear", depth=20),
    ]
    for key, builder in plots.BUILDERS.items():
        obj = builder(configs)
        assert isinstance(obj, hv.Overlay), key
        if key != "phase":
            labels = {el.label for el in obj}
            assert {"relu", "linear"} <= labels, key


def test_looks_linear_c_map_is_the_identity():
    cv = Configuration(activation="relu", method="looks_linear", depth=50).compute()
    assert cv is not None
    np.testing.assert_allclose(cv.c_maps[-1], data.C_GRID, atol=1e-12)  # C_f(c) = c: mean-field linear network


def test_c_map_rows_match_the_default_depths():
    cfg = Configuration(activation="relu", method="standard", scheme="he", depth=81)
    cv = cfg.compute()
    assert cv.depths == (3, 9, 27, 81)
    np.testing.assert_array_equal(data.c_map_rows(cfg.spec(), cv.depths), cv.c_maps)


@pytest.mark.parametrize("fmt", ["png", "svg", "csv"])
def test_export_without_a_browser(fmt, tmp_path):
    from PIL import Image

    configs = [Configuration(title="relu", activation="relu", method="standard", scheme="he", depth=20)]
    blob = export.export(plots.c_map_plot, configs, fmt)
    Path(tmp_path / f"x.{fmt}").write_bytes(blob)
    if fmt == "png":
        assert blob[:8] == b"\x89PNG\r\n\x1a\n" and len(blob) > 10_000
        img = Image.open(io.BytesIO(blob))
        img.load()
        assert min(img.size) > 200
    elif fmt == "svg":
        assert ET.fromstring(blob).tag.endswith("svg")
    else:
        rows = list(csv.DictReader(io.StringIO(blob.decode())))
        assert {r["series"] for r in rows} >= {"identity", "relu"}
        relu = [r for r in rows if r["series"] == "relu"]
        assert len(relu) == len(data.C_GRID)
    assert hv.Store.current_backend == "bokeh"  # exporting does not switch the user's backend


def test_dashboard_displays_inline_and_updates_in_place():
    dash = Dashboard(
        configurations=[Configuration(title="a", activation="relu", method="standard", scheme="he", depth=20)],
        sync_url=False,
    )
    assert dash._loaded and not dash._defer
    root = dash.__panel__().get_root()
    assert root is not None
    live = dash.live("c_map")
    src = live.sources[0][-1]
    before = np.asarray(src.data["y"]).copy()
    figure = live.figure
    dash.configurations[0].depth = 10
    assert dash.live("c_map").figure is figure  # same figure: data swapped in place
    assert not np.array_equal(np.asarray(src.data["y"]), before)
    assert "10" in dash._readouts_html()


def test_presets_are_valid_configurations():
    assert len(DEFAULT) == 4
    for name, preset in PRESETS.items():
        assert preset["text"] and 1 <= len(preset["configs"]) <= urlstate.MAX_CONFIGS, name
        for state in preset["configs"]:
            Configuration(**state)  # every field valid


def test_dashboard_opens_on_a_named_preset_and_gives_each_configuration_a_colour():
    name = "TAT leaky ReLU, η = 0.9"
    dash = Dashboard(preset=name, sync_url=False)
    assert [c.state() for c in dash.configurations] == [Configuration(**s).state() for s in PRESETS[name]["configs"]]
    same = [Configuration(activation="tanh"), Configuration(activation="relu"), Configuration(activation="erf")]
    assert len({c.colour for c in same}) == 1  # all start with the default colour
    dash = Dashboard(configurations=same, sync_url=False)
    assert len({c.colour for c in dash.configurations}) == 3


def test_erf_eoc_line_matches_the_closed_form():
    """φ = erf: E[φ'(√q z)²] = (4/π)/√(1 + 4q) and Q(q) = σ_w² (2/π) arcsin(2q/(1 + 2q)) + σ_b², so the
    EOC is the curve q ↦ (σ_w², σ_b²) = ((π/4)√(1 + 4q), q − σ_w² (2/π) arcsin(2q/(1 + 2q))). The contour of
    the gridded χ₁ follows it to the grid's linear-interpolation error (< 1e-3 in σ_w² on this grid)."""
    phi = data.model(Configuration(activation="erf").spec()).phi
    sw2, sb2 = np.linspace(1.0, 2.5, 121), np.linspace(0.0, 0.6, 61)
    (x, y), = specs.chi1_one_lines(data.phase(phi, tuple(sw2), tuple(sb2)))
    q = np.linspace(0.05, 1.5, 40)
    w2 = np.pi / 4 * np.sqrt(1 + 4 * q)
    b2 = q - w2 * 2 / np.pi * np.arcsin(2 * q / (1 + 2 * q))
    inside = (b2 > 0.05) & (b2 < 0.59)  # away from q* → 0, where the line bends most
    assert inside.sum() > 10
    order = np.argsort(y)
    np.testing.assert_allclose(np.interp(b2[inside], y[order], x[order]), w2[inside], atol=1e-3)


def test_tanh_eoc_line_matches_the_eoc_solver():
    """The contour of the gridded χ₁ against the EOC root solve (a second method) at a few σ_b²: the grid's
    linear interpolation is good to ~1e-3 in σ_w²."""
    import sigprop as sp

    phi = data.model(Configuration(activation="tanh").spec()).phi
    sw2, sb2 = np.linspace(0.5, 3.0, 101), np.linspace(0.01, 0.5, 50)
    (x, y), = specs.chi1_one_lines(data.phase(phi, tuple(sw2), tuple(sb2)))
    order = np.argsort(y)
    for target in (0.05, 0.2, 0.45):
        eoc = sp.eoc(phi, sigma_b=np.sqrt(target))
        np.testing.assert_allclose(np.interp(target, y[order], x[order]), eoc.sigma_w**2, rtol=1e-3)


def test_phase_plot_follows_the_active_configuration_and_a_tap_sets_sigma():
    from bokeh.events import Tap

    dash = Dashboard(
        configurations=[
            Configuration(title="a", activation="relu", method="standard", scheme="he", depth=20),
            Configuration(title="b", activation="tanh", method="eoc", depth=20),
        ],
        sync_url=False,
    )
    phase = dash.live("phase")
    assert "φ = relu" in phase.figure.title.text
    np.testing.assert_allclose(phase.point.data["x"], [2.0], rtol=1e-14)  # He: σ_w² = 2
    dash.active = 1
    assert "φ = tanh" in phase.figure.title.text
    fig = phase.figure
    fig._trigger_event(Tap(fig, x=1.5, y=0.3))
    b = dash.configurations[1]
    assert (b.method, b.scheme) == ("standard", "custom")
    assert b.sigma_w == pytest.approx(np.sqrt(1.5), abs=1e-4) and b.sigma_b == pytest.approx(np.sqrt(0.3), abs=1e-4)
    np.testing.assert_allclose(phase.point.data["x"], [b.sigma_w**2])


def test_readouts_show_the_deviation_between_theorem_13s_bounds():
    """Martens et al. 2021, Theorem 13: ¼(1 − C_f'(0)) ≤ max|C_f(c) − c| ≤ 2(1 − C_f'(0)), and ≤ 2(C_f'(1) − 1)
    when C_f(0) = 0; the readout's bound is the tightest of these and sigprop's min(2, 2(C_f'(1) − 1) + 4C_f(0))."""
    rows = Dashboard(sync_url=False).readouts()
    assert len(rows) == 4
    for row in rows:
        lower, measured, upper = row["Thm 13 lower"], row["max|C_f(c) - c|"], row["bound"]
        assert lower - 1e-10 <= measured <= upper + 1e-10, row["configuration"]
        assert lower == pytest.approx(0.25 * (1 - row["C'_f(0)"]), abs=1e-12)
        assert upper <= 2 * (1 - row["C'_f(0)"]) + 1e-12
    dks = next(r for r in rows if r["method"] == "DKS")
    assert dks["bound"] <= 2 * (dks["C'_f(1)"] - 1) + 1e-9  # C_f(0) = 0: 2(ζ − 1) at most


def test_url_values_that_are_not_finite_or_not_utf8_are_ignored_with_a_message():
    from sigprop_app import urlstate

    states, _, problems = urlstate.decode({"n": [b"1"], "c0.L": [b"inf"], "c0.sw": [b"nan"],
                                              "c0.act": [b"\xe0\xa4%A"], "c0.sb": [b"1e400"]})
    assert states == [{"activation": "\ufffd%A"}]  # the bad bytes are replaced, then the parser says why
    assert sorted(problems) == ["ignored c0.L='inf'", "ignored c0.sb='1e400'", "ignored c0.sw='nan'"]
    assert urlstate.decode("n=1&c0.L=2.5")[2] == ["ignored c0.L='2.5'"]


def test_csv_names_cannot_become_spreadsheet_formulas():
    from sigprop_app.export import _csv_safe

    assert [_csv_safe(t) for t in ("=HYPERLINK(\"x\")", "+1", "-2", "@SUM(A1)", "tanh · DKS")] == [
        "'=HYPERLINK(\"x\")", "'+1", "'-2", "'@SUM(A1)", "tanh · DKS"]


def _sources(live):
    return [[dict(s.data) for s in srcs] for srcs in live.sources]


def test_finite_width_plot_holds_the_kernel_and_follows_the_width():
    """Plot 8: the ±2σ band of random networks (sp.finite_width) around C_f(c) from sp.mlp(...).c_map, at
    ≥ 15 of 17 cosines; changing the width redraws with the new width's band (narrower at 4,096 than at 64)."""
    import sigprop as sp

    cfg = Configuration(activation="tanh", method="dks", zeta=1.5, depth=30)
    dash = Dashboard(configurations=[cfg], sync_url=False)
    live = dash.live("finite")
    band, mean, theory = _sources(live)[0]
    exact = sp.mlp("tanh", 30, init=sp.dks("tanh", depth=30, zeta=1.5)).c_map(data.FINITE_C)
    np.testing.assert_allclose(theory["y"], sp.mlp("tanh", 30, init=sp.dks("tanh", depth=30)).c_map(data.C_GRID),
                               atol=1e-12)
    inside = (band["y"] - 1e-12 <= exact) & (exact <= band["y2"] + 1e-12)
    assert inside.sum() >= 15, inside
    widths = {}
    for n in (64, 4096):
        dash.finite_width = n
        band = _sources(live)[0][0]
        widths[n] = float(np.mean(band["y2"] - band["y"]))
    assert widths[4096] < 0.5 * widths[64], widths


def test_training_plot_draws_each_run_refuses_deep_networks_and_hides_stale_runs():
    cfgs = [Configuration(activation="tanh", method="dks", depth=10),
            Configuration(activation="relu", method="eoc", depth=1000, colour="#d62728")]
    dash = Dashboard(configurations=cfgs, sync_url=False)
    live = dash.live("training")
    dash.train_steps = 20
    dash.train()
    dash._train_future.result(timeout=300)
    assert dash.training_status.startswith("done (1 not trained") and "depth 200" in dash.training_status
    first, deep = (srcs[0] for srcs in _sources(live))
    assert list(first["x"]) == [0, 10, 20] and first["y"][-1] < first["y"][0]
    assert len(deep["x"]) == 0
    assert dash.training_done == 3 and dash.training_total == 6
    cfgs[0].depth = 11  # other settings: the old run is not drawn as this configuration's
    assert len(_sources(live)[0][0]["x"]) == 0
    dash.train()  # a run already trained is replayed from sigprop's cache
    dash._train_future.result(timeout=300)
    assert len(_sources(live)[0][0]["x"]) == 3
    accuracy = _sources(dash.live("accuracy"))[0][0]
    assert list(accuracy["x"]) == [0, 10, 20] and np.all((accuracy["y"] >= 0) & (accuracy["y"] <= 1))
    digits_loss = _sources(live)[0][0]["y"]
    dash.train_data = "teacher"  # the synthetic teacher task: another data set, another curve
    dash.train()
    dash._train_future.result(timeout=300)
    assert not np.allclose(_sources(live)[0][0]["y"], digits_loss)


def test_training_can_be_stopped():
    dash = Dashboard(configurations=[Configuration(activation="tanh", method="dks", depth=12)], sync_url=False)
    dash.train_steps = 200
    dash.train()
    dash.stop_training()
    dash._train_future.result(timeout=300)
    assert dash.training_status.startswith("stopped")
    assert len(dash.configurations[0].training) < 21  # 200 steps would give 21 points
