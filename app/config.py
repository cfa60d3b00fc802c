"""`Configuration`: one network to compare (activation × method × architecture × depth) and its widgets."""

from __future__ import annotations

import dataclasses
import html
import logging

import numpy as np
import panel as pn
import param

from . import data

log = logging.getLogger(__name__)

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2")
METHOD_LABELS = {"Standard": "standard", "EOC": "eoc", "DKS": "dks", "TAT": "tat", "Looks-Linear": "looks_linear"}
METHOD_NAMES = {v: k for k, v in METHOD_LABELS.items()}
# Depth slider stops: 1, 2, ..., 10 000 roughly evenly spaced on a log scale (24 per decade).
DEPTH_STOPS = tuple(sorted({int(round(10 ** (k / 24))) for k in range(0, 97)}))
ERRORS = (ValueError, ArithmeticError)  # sigprop's errors derive from these (sigprop.errors)
# How the registry's activations are named in legends (others, and expressions, as typed).
ACTIVATION_NAMES = {"relu": "ReLU", "leaky_relu": "leaky ReLU", "gelu": "GELU", "gelu_tanh": "GELU (tanh)",
                    "elu": "ELU", "selu": "SELU", "abs": "|x|"}
SCHEME_NAMES = {"he": "He", "lecun": "LeCun", "glorot": "Glorot"}
MAX_NAME = 60  # longest legend name (a long expression is cut)
# Buttons size their text in rem, which a stylesheet cannot reach: this one reads a size that presentation mode sets
# on the page's columns (custom properties reach the nested shadow roots)
BUTTON_CSS = ".bk-btn { font-size: var(--sigprop-button-size, var(--bs-btn-font-size)); }"


def _num(x: float) -> str:
    """A parameter as the name shows it: at most 3 significant digits (0.22, 1.5, 4.81, 0.999)."""
    return f"{x:.3g}"


def _short(message: str, limit: int = 300) -> str:
    """First line of an error message, at most ``limit`` characters."""
    line = message.strip().splitlines()[0] if message.strip() else message
    return line if len(line) <= limit else line[: limit - 1] + "…"


class Configuration(param.Parameterized):
    """A network to compare. Its curves come from :mod:`sigprop` through :func:`sigprop_app.data.curves`."""

    title = param.String(default="", doc="Name typed by the user; '' (default): the name follows the settings "
                         "(auto_name).")
    colour = param.Color(default=PALETTE[0])
    activation = param.String(default="tanh", doc="Registry name (e.g. 'relu') or an expression in x.")
    method = param.Selector(default="eoc", objects=list(data.METHODS))
    scheme = param.Selector(default="lecun", objects=list(data.SCHEMES), doc="Standard init: σ_w scheme.")
    sigma_w = param.Number(default=1.0, bounds=(0.05, 5.0), step=0.01, doc="σ_w (standard, custom scheme).")
    sigma_b = param.Number(default=0.0, bounds=(0.0, 2.0), step=0.01, doc="σ_b (standard and EOC).")
    zeta = param.Number(default=1.5, bounds=(1.01, 20.0), step=0.01, doc="DKS: C_f'(1) = ζ.")
    eta = param.Number(default=0.9, bounds=(0.0, 0.999), step=0.01, doc="TAT (leaky ReLU): C_f(0) = η.")
    tau = param.Number(default=0.3, bounds=(0.01, 10.0), step=0.01, doc="TAT (smooth φ): C_f''(1) = τ.")
    architecture = param.Selector(default="plain", objects=["plain", "residual"])
    shortcut_weight = param.Number(default=0.8, bounds=(0.0, 0.99), step=0.01, doc="Residual: skip weight w.")
    depth = param.Integer(default=100, bounds=(1, 10_000), doc="Nonlinear layers.")
    error = param.String(default="", doc="Message of the last failed computation ('' when fine).")

    SPEC_FIELDS = tuple(f.name for f in dataclasses.fields(data.Spec))
    STATE_FIELDS = ("title", "colour") + SPEC_FIELDS

    def spec(self) -> data.Spec:
        """The hashable parameters that determine the curves (irrelevant ones reset)."""
        return data.Spec(**{k: getattr(self, k) for k in self.SPEC_FIELDS}).relevant()

    def state(self) -> dict:
        """Plain-dict state (for URLs, presets and duplication)."""
        return {k: getattr(self, k) for k in self.STATE_FIELDS}

    def label(self) -> str:
        """The name shown in every plot, legend and table: the typed ``title``, else :meth:`auto_name`."""
        return (self.title.strip() or self.auto_name()) + self.label_suffix

    label_suffix = ""  # " (2)", " (3)", ... set by the dashboard when another configuration has the same name
    def auto_name(self) -> str:
        """A name derived from the settings that matter, e.g. "tanh · DKS ζ=1.5 · L=100",
        "ReLU · He · residual w=0.8 · L=1000"; it follows every edit."""
        act = ACTIVATION_NAMES.get(self.activation.strip(), self.activation.strip() or "?")
        if len(act) > MAX_NAME // 2:
            act = act[: MAX_NAME // 2 - 1] + "…"
        parts = [act, self._method_name()]
        if self.architecture == "residual":
            parts.append(f"residual w={_num(self.shortcut_weight)}")
        parts.append(f"L={self.depth:,}")
        return " · ".join(parts)

    def _method_name(self) -> str:
        bias = f" σ_b={_num(self.sigma_b)}" if self.sigma_b else ""
        if self.method == "standard":
            if self.scheme == "custom":
                return f"σ_w={_num(self.sigma_w)}{bias or ' σ_b=0'}"
            return SCHEME_NAMES[self.scheme] + bias
        if self.method == "eoc":
            return "EOC" + bias
        if self.method == "dks":
            return f"DKS ζ={_num(self.zeta)}"
        if self.method == "tat":
            target = data.tat_target(self.activation)
            return f"TAT {'η' if target == 'eta' else 'τ'}={_num(getattr(self, target))}"
        return METHOD_NAMES[self.method]

    blocking = True  # False in a served dashboard: compute() then only reads caches (the engine pool fills them)
    finite_width = 1024  # the width of plot 8's random networks (set by the dashboard, not part of the spec)
    training: tuple = ()  # plot 9: ((step, training loss), ...) of the last run, for ``training_spec``
    training_spec = None
    train_revision = 0  # bumped with every new training point (the live plot redraws on it)

    def view_token(self, parts) -> tuple:
        """What a plot of ``parts`` draws besides the spec's caches: plot 8's width, plot 9's training points."""
        return (self.finite_width if "finite" in parts else None,
                self.train_revision if "training" in parts else None)

    def ready(self) -> bool:
        """Whether this configuration's curves (or its error) are already computed."""
        return data.curves.cached(self.spec())

    def compute(self):
        """Curves of this configuration, or None (and ``error`` set) if the engine refused it; None when it
        does not block (``blocking`` False) and they are not computed yet."""
        spec = self.spec()
        if not self.blocking and not data.curves.cached(spec):
            return None
        try:
            result = data.curves(spec)
        except Exception as exc:  # noqa: BLE001 - shown beside the widget; the other configurations keep drawing
            if not isinstance(exc, ERRORS):
                log.exception("unexpected error computing %s", spec)
            self.error = _short(f"{type(exc).__name__}: {exc}")
            return None
        self.error = ""
        return result

    def extra(self, kind: str):
        """NTK, local phase-point or finite-width data (computed only when a plot needs it), None on error."""
        fn, cached = self._part(kind)
        spec = self.spec()
        if self.compute() is None or (not self.blocking and not cached(spec)):
            return None
        try:
            return fn(spec)
        except Exception as exc:  # noqa: BLE001 - an optional plot part; never breaks the dashboard
            if not isinstance(exc, ERRORS):
                log.warning("%s unavailable for %s: %s", kind, spec, exc)
            return None

    FIRST_TAB = ("curves", "point")  # what the first page draws: C-map curves and the readouts
    OTHER_TABS = ("ntk", "phase")

    _PARTS = {  # part -> (compute and cache it, whether it is cached) for a spec
        "curves": (data.curves, data.curves.cached),
        "point": (data.local_point, data.local_point.cached),
        "ntk": (data.ntk, data.ntk.cached),
        "phase": (lambda s: data.phase(data.activation(s.activation)),
                  lambda s: data.activation.cached(s.activation) and (
                      data.activation.peek(s.activation) is None  # a φ refused: no diagram to compute
                      or data.phase.cached(data.activation.peek(s.activation)))),
    }

    def _part(self, part: str):
        """(compute, is cached) of a part for a spec; "finite" at this configuration's ``finite_width``."""
        if part == "finite":
            width = self.finite_width
            return (lambda s: data.finite(s, width)), (lambda s: data.finite.cached(s, width))
        if part == "training":  # not computed from the spec: trained on request (Dashboard.train)
            return (lambda s: None), (lambda s: True)
        return self._PARTS[part]

    def warm(self, parts=FIRST_TAB + OTHER_TABS) -> None:
        """Compute (and cache) what the dashboard draws for this configuration (``parts`` of FIRST_TAB and
        OTHER_TABS); errors are cached and shown when drawn."""
        spec = self.spec()
        data.compute_elsewhere(spec, parts)  # served: in an engine process (app/work.py); else a no-op
        for part in parts:
            try:
                self._part(part)[0](spec)
            except Exception:  # noqa: BLE001, S112 - the error is cached and shown when drawn
                pass

    def missing(self, parts) -> bool:
        """Whether any of ``parts`` is neither computed nor refused yet (reads the caches only). A refused
        configuration misses nothing beyond its curves: the error is what is shown."""
        spec = self.spec()
        if not data.curves.cached(spec):
            return True
        if data.curves.peek(spec) is None:  # refused: nothing else to compute but the diagram of its φ
            parts = [part for part in parts if part == "phase"]
        return not all(self._part(part)[1](spec) for part in parts)

    # ---- widgets -------------------------------------------------------------------------------------
    def editor(self, on_remove=None, on_duplicate=None) -> pn.viewable.Viewable:
        """A card with this configuration's widgets (method-specific ones shown only when they apply)."""
        p = self.param
        method = self.param.method
        w = {
            "title": pn.widgets.TextInput.from_param(
                p.title, label="Name (empty: follows the settings)",
                placeholder=pn.bind(lambda *_: self.auto_name(), *(p[k] for k in self.SPEC_FIELDS)),
            ),
            "colour": pn.widgets.ColorPicker.from_param(p.colour, label="Colour", width=60),
            "activation": pn.widgets.TextInput.from_param(
                p.activation,
                label="Activation (name or expression in x)",
                placeholder="tanh, relu, gelu, tanh(x) + 0.1*x ...",
            ),
            "method": pn.widgets.Select(label="Method", options=METHOD_LABELS, value=self.method),
            "scheme": pn.widgets.Select.from_param(
                p.scheme, label="Scheme", visible=pn.bind(lambda m: m == "standard", method)
            ),
            "sigma_w": pn.widgets.FloatSlider.from_param(
                p.sigma_w,
                label="σ_w",
                visible=pn.bind(lambda m, s: m == "standard" and s == "custom", method, p.scheme),
            ),
            "sigma_b": pn.widgets.FloatSlider.from_param(
                p.sigma_b, label="σ_b", visible=pn.bind(lambda m: m in ("standard", "eoc"), method)
            ),
            "zeta": pn.widgets.FloatSlider.from_param(
                p.zeta, label="ζ = C_f'(1)", visible=pn.bind(lambda m: m == "dks", method)
            ),
            "eta": pn.widgets.FloatSlider.from_param(
                p.eta, label="η = C_f(0) (leaky ReLU)",
                visible=pn.bind(lambda m, a: m == "tat" and data.tat_target(a) == "eta", method, p.activation),
            ),
            "tau": pn.widgets.FloatSlider.from_param(
                p.tau, label="τ = C_f''(1) (smooth φ)",
                visible=pn.bind(lambda m, a: m == "tat" and data.tat_target(a) == "tau", method, p.activation),
            ),
            "architecture": pn.widgets.RadioButtonGroup.from_param(p.architecture, label="Architecture"),
            "shortcut_weight": pn.widgets.FloatSlider.from_param(
                p.shortcut_weight, label="Shortcut weight w", visible=pn.bind(lambda a: a == "residual", p.architecture)
            ),
            "depth": pn.widgets.DiscreteSlider(
                label="Depth L (log scale)", options=self._depth_stops(), value=self.depth
            ),
        }
        w["method"].link(self, value="method")
        self.param.watch(lambda e: setattr(w["method"], "value", e.new), "method")
        w["depth"].param.watch(lambda e: setattr(self, "depth", int(e.new)), "value")
        self.param.watch(lambda e: self._sync_depth(w["depth"], e.new), "depth")
        for k, widget in w.items():
            widget.css_classes = [f"sigprop-{k}"]
        # the message repeats what the user typed: escaped HTML, never Markdown (which would eat ** and __ and
        # render links) nor raw HTML (which would run a typed <img onerror=…>)
        error = pn.pane.HTML(
            pn.bind(lambda e: f'<div class="alert alert-danger" role="alert">{html.escape(e)}</div>' if e else "",
                    self.param.error),
            visible=pn.bind(bool, self.param.error),
            css_classes=["sigprop-error"],
            margin=(0, 10),
            sizing_mode="stretch_width",
            styles={"color": "#721c24", "background": "#f8d7da", "border-radius": "4px", "padding": "0 8px"},
        )
        buttons = []
        if on_duplicate is not None:
            b = pn.widgets.Button(label="Duplicate", color="light", css_classes=["sigprop-duplicate"],
                                  stylesheets=[BUTTON_CSS])
            b.on_click(lambda _: on_duplicate(self))
            buttons.append(b)
        if on_remove is not None:
            b = pn.widgets.Button(label="Remove", color="light", css_classes=["sigprop-remove"],
                                  stylesheets=[BUTTON_CSS])
            b.on_click(lambda _: on_remove(self))
            buttons.append(b)
        header = pn.pane.HTML(
            pn.bind(
                lambda *_: f'<span style="color:{self.colour};font-weight:bold">■</span> {html.escape(self.label())}',
                *(p[k] for k in self.STATE_FIELDS),
            ),
            margin=0,
        )
        body = [
            pn.Row(w["title"], w["colour"]),
            w["activation"],
            error,
            w["method"],
            w["scheme"],
            w["sigma_w"],
            w["sigma_b"],
            w["zeta"],
            w["eta"],
            w["tau"],
            w["architecture"],
            w["shortcut_weight"],
            w["depth"],
            pn.Row(*buttons),
        ]
        self._widgets = w
        return pn.Card(
            *body, header=header, collapsible=True, sizing_mode="stretch_width", css_classes=["sigprop-config"]
        )

    def _depth_stops(self) -> list[int]:
        return sorted(set(DEPTH_STOPS) | {int(self.depth)})

    def _sync_depth(self, slider, depth: int) -> None:
        if depth not in slider.options:
            slider.options = self._depth_stops()
        if slider.value != depth:
            slider.value = depth


def nearest_depth(depth: float) -> int:
    """The slider stop nearest to ``depth`` on a log scale."""
    stops = np.asarray(DEPTH_STOPS)
    return int(stops[np.argmin(np.abs(np.log(stops) - np.log(max(depth, 1))))])
