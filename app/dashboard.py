"""`Dashboard`: compare configurations side by side; the same object serves (``.servable()``) and displays
inline in a notebook."""

from __future__ import annotations

import html
import io
import math
import threading

import numpy as np
import panel as pn
import param
from bokeh.models import CustomJS
from panel.io import hold

from . import data, explain, export, specs, urlstate, work
from .config import BUTTON_CSS, METHOD_NAMES, PALETTE, Configuration
from .live import LivePhasePlot, LivePlot
from .presets import DEFAULT, PRESETS, TANH_EOC

TABS = (
    ("C maps", ("c_map", "one_minus_c")),
    ("Through the layers", ("c_trajectory", "q_map", "q_trajectory")),
    ("Activation & NTK", ("activation", "ntk", "ntk_condition")),
    ("Phase diagram", ("phase",)),
    ("Finite width & training", ("finite", "training", "accuracy")),
)
PLOTS = (
    ("c_map", "1 · Whole-network C map"),
    ("one_minus_c", "2 · Degeneration near c = 1"),
    ("c_trajectory", "3 · Cosine through the layers"),
    ("q_map", "4a · Per-layer Q map"),
    ("q_trajectory", "4b · Variance through the layers"),
    ("activation", "5 · Transformed activation"),
    ("ntk", "6a · Per-layer NTK"),
    ("ntk_condition", "6b · NTK condition number"),
    ("phase", "7 · EOC phase diagram of the edited configuration (click to set σ_w², σ_b²)"),
    ("finite", "8 · Real random networks of finite width around the kernel"),
    ("training", "9a · Does the kernel predict training?"),
    ("accuracy", "9b · Test accuracy of the same runs"),
)
MAX_CONFIGS = urlstate.MAX_CONFIGS
PRESENT_TABLE_CSS = "table.sigprop-table { font-size: 100%; }"
# presentation mode: every text at least 18 px (custom properties reach the nested shadow roots)
PRESENT_CSS = """:host { font-size: 20px; --bokeh-font-size: 20px; --bokeh-base-font-size: 20px; --base-font-size: 20px;
  --bs-body-font-size: 20px; --bs-btn-font-size: 20px; --font-size: 20px; --sigprop-katex-size: 1.3em;
  --sigprop-button-size: 20px; }"""
THEMES = ("light", "dark")
# The template's sidebar follows presentation mode on a live page (``?present=1`` folds it from the start): a click
# on the template's own toggle, so that its hamburger stays in step. Absent in a notebook (no template).
FOLD_SIDEBAR_JS = """const bar = document.getElementById('sidebar'), toggle = document.getElementById('sidebar-toggle');
if (bar && toggle && bar.classList.contains('show') === cb_obj.active) toggle.click();"""  # (Bokeh's Toggle: active)
# Narrow screens (a phone): the header's title wraps instead of running off the screen, and the page opens on the
# plots with the sidebar folded (it would stack above them, a long scroll away).
PHONE_WIDTH = 768  # px: Bootstrap's "md" breakpoint, where the template stacks the sidebar above the main column
PHONE_CSS = f"""@media (max-width: {PHONE_WIDTH - 0.02}px) {{
  #header .title {{ white-space: normal; font-size: 1.1em; line-height: 1.3em; }} }}"""
# ... and the main column puts the plots above the tables (as presentation mode does): a CSS order, no re-layout.
PHONE_MAIN_CSS = f"""@media (max-width: {PHONE_WIDTH - 0.02}px) {{ .sigprop-plots {{ order: -1; }} }}"""
# ... and the plot tabs wrap onto a second row, so every tab stays in view.
PHONE_TABS_CSS = f"""@media (max-width: {PHONE_WIDTH - 0.02}px) {{ .bk-headers-wrapper {{ flex-wrap: wrap; }} }}"""
PHONE_FOLD_JS = f"""const bar = document.getElementById('sidebar'), toggle = document.getElementById('sidebar-toggle');
if (window.innerWidth < {PHONE_WIDTH} && bar && toggle && bar.classList.contains('show')) toggle.click();"""
# the dark theme for projectors: white on black, not Panel's grey on dark grey
DARK_CSS = """:host { --background-color: #000; --panel-background-color: #000; --panel-surface-color: #111;
  --bokeh-font-color: #fff; color: #fff; background-color: #000; }"""
FORMULAS = (
    r"C_f'(1) = \prod_{l} C_l'(1),\quad C'(c) = \dfrac{\sigma_w^2\, q\, \mathbb{E}[\phi'(u)\phi'(v)]}{Q(q)}",
    r"\chi_1 = \sigma_w^2\, \mathbb{E}\big[\phi'(\sqrt{q^*} z)^2\big],\qquad \xi_c^{-1} = -\log C'(c^*)",
    r"\text{DKS: } C_f(0) = 0,\ C_f'(1) = \zeta \qquad \text{TAT: } C_f'(1) = 1,\ "
    r"C_f(0) = \eta \text{ or } C_f''(1) = \tau",
    r"\tfrac14\big(1 - C_f'(0)\big) \le \max_c |C_f(c) - c| \le \text{bound} = \min\big(2(1 - C_f'(0)),\ "
    r"2(C_f'(1) - 1)\ [C_f(0) = 0],\ 2(C_f'(1) - 1) + 4\,C_f(0)\big)"
    r"\quad \text{(Martens et al. 2021, Thm 13; the last is sigprop's)}",
)


def _fmt(v) -> str:
    if v is None:
        return "–"
    if isinstance(v, int | np.integer):
        return f"{int(v):,}"
    v = float(v)
    if math.isinf(v):
        return "∞"
    if math.isnan(v):
        return "NaN"
    return f"{v:.4g}" if v == 0 or 1e-3 <= abs(v) < 1e5 else f"{v:.3e}"


def _shown(flag: bool) -> dict:
    return {"visibility": "visible" if flag else "hidden"}


def distinct_colours(configs) -> None:
    """Give every configuration a colour no earlier one has (from PALETTE while it lasts)."""
    for i, cfg in enumerate(configs):
        used = {c.colour for c in configs[:i]}
        if cfg.colour in used:
            cfg.colour = next((c for c in PALETTE if c not in used), cfg.colour)


def _swatch(cfg) -> str:
    return f'<span style="color:{cfg.colour}">■</span> {html.escape(cfg.label())}'


def warm(configs, first_tab_only: bool = False) -> None:
    """Compute and cache what the dashboard draws for ``configs`` (safe in a worker thread): the first tab of
    every configuration first, then (unless ``first_tab_only``) the other tabs.

    HoloViews (the exports' back end) is not imported here: Panel imports it from the event loop as soon as it
    is in ``sys.modules``, and a half-imported HoloViews from this thread made those callbacks fail. The first
    export imports it (about 2 s, once per process)."""
    for cfg in configs:
        cfg.warm(Configuration.FIRST_TAB)
    if first_tab_only:
        return
    for cfg in configs:
        cfg.warm(Configuration.OTHER_TABS)


_warmup: threading.Thread | None = None  # the warm-up thread (started once per process)
_first_view_lock = threading.Lock()


def warm_first_view(states=DEFAULT) -> None:
    """Once per process, synchronously: compute what the default view's first page draws (its C-map curves and
    readouts, ~0.3 s with the NumPy engine), so that every session's first page is built with its curves in it,
    not empty and then redrawn. ``panel serve --warm`` runs it before the server accepts connections; without
    ``--warm`` the first session pays it."""
    with _first_view_lock:
        warm([Configuration(**s) for s in states], first_tab_only=True)  # later calls read the caches


def start_warmup(states=DEFAULT, delay: float = 10.0) -> None:
    """Once per process: compute the default view in a background thread, so that sessions find the curves
    cached. Under a server it starts ``delay`` s after the event loop runs, or earlier when the first session
    has loaded (:meth:`Dashboard._load`), so it never competes with the server's start or first page."""
    global _warmup
    if _warmup is not None:
        return
    _warmup = threading.Thread(
        target=warm, args=([Configuration(**s) for s in states],), daemon=True, name="sigprop-warmup"
    )
    try:
        from tornado.ioloop import IOLoop

        IOLoop.current().call_later(delay, _start_warmup_now)
    except RuntimeError:  # no event loop: start now
        _start_warmup_now()


def _start_warmup_now() -> None:
    if _warmup is not None and _warmup.ident is None:
        work.start_engine_processes()  # served: configurations are computed there from now on (app/work.py)
        _warmup.start()


def _schedule(doc, fn) -> None:
    """Run ``fn`` on ``doc``'s event loop, with the document lock (safe to call from a pool thread)."""
    from panel.io.state import set_curdoc

    try:
        with set_curdoc(doc):
            pn.state.execute(fn, schedule=True)
    except Exception:  # noqa: BLE001 - the session ended meanwhile: nothing to draw
        pass


def warm_run() -> bool:
    """Whether this session is `panel serve --warm`'s start-up run (no browser will connect to it)."""
    context = getattr(pn.state.curdoc, "session_context", None)
    request = getattr(context, "request", None)
    return request is not None and getattr(request, "_request", True) is None


class Dashboard(pn.viewable.Viewer):
    """Signal-propagation dashboard: configurations, plots 1–7, readouts, presets, URL state, export."""

    configurations = param.List(default=[], item_type=Configuration)
    active = param.Integer(
        default=0, bounds=(0, None), doc="Configuration being edited (its tab), drawn in the phase diagram."
    )
    presentation = param.Boolean(default=False, doc="Projector layout: plots first, every text ≥ 18 px, "
                                 "explanations open.")
    plot_tab = param.Integer(default=0, bounds=(0, len(TABS) - 1), doc="The plot tab shown.")
    theme = param.Selector(default="light", objects=list(THEMES), doc="Light, or dark high-contrast (served: "
                           "the page reloads in it).")
    revision = param.Integer(default=0, doc="Bumped whenever a curve changes; readouts follow it.")
    preset = param.Selector(default=list(PRESETS)[0], objects=list(PRESETS))
    finite_width = param.Selector(default=1024, objects=list(data.FINITE_WIDTHS), doc="Width of plot 8's networks.")
    train_optimizer = param.Selector(default="adam", objects=data.OPTIMIZERS, doc="Optimiser of plot 9's runs.")
    train_steps = param.Selector(default=100, objects=list(data.TRAIN_STEPS), doc="Steps of plot 9's runs.")
    train_data = param.Selector(default="digits", objects=data.DATASETS, doc="Data set of plot 9's runs.")
    training_status = param.String(default="", doc="What plot 9's training is doing.")
    training_done = param.Integer(default=0, doc="Evaluation points trained so far (of training_total).")
    training_total = param.Integer(default=1)

    def __init__(self, configurations=None, sync_url: bool = True, defer: bool | None = None, **params):
        """``configurations``: Configuration objects (default: the URL's state, else the ``preset``
        parameter's configurations, e.g. ``Dashboard(preset="TAT leaky ReLU, η = 0.9")``);
        ``sync_url``: keep the state in the browser's URL when served; ``defer``: compute after the page has
        loaded (default: when served), so the first page appears at once and fills in."""
        super().__init__(**params)
        if defer is None:
            defer = pn.state.curdoc is not None and pn.state.curdoc.session_context is not None
        self._defer = defer
        self._loaded = not defer
        self._location = pn.state.location if sync_url else None
        self._structure = None
        self._live: dict[str, LivePlot] = {}
        self._plot_cards = pn.Tabs(dynamic=True, sizing_mode="stretch_width", css_classes=["sigprop-plots"],
                                   stylesheets=[PHONE_TABS_CSS])
        # One editor shown at a time (dynamic: the others are not rendered): the first page stays small.
        self._editors = pn.Tabs(dynamic=True, sizing_mode="stretch_width", css_classes=["sigprop-editors"])
        self._editors.param.watch(lambda e: setattr(self, "active", e.new), "active")
        self._layout = None
        self._tables: list = []
        self._jobs: work.Coalescer | None = None  # served: the engine pool's job for this session
        self._spinners: list = []  # the busy spinners of the plots drawn
        self._doc = None  # served: the session's document (training points are drawn through its event loop)
        self._train_future = None
        self._train_stop = threading.Event()
        states = None
        if configurations is None and self._location is not None:
            decoded = urlstate.decode(pn.state.session_args or {})
            if decoded is not None:
                states, view, problems = decoded
                problems += self._apply_view(view)
                if problems:  # toasts sent before the page is ready are lost: say it once it has loaded
                    pn.state.onload(lambda problems=problems: [self._notify(p, "warning") for p in problems])
        if configurations is not None:
            configs = list(configurations)
        else:
            configs = [self._new_config(s) for s in (states or PRESETS[self.preset]["configs"])]
        distinct_colours(configs)
        if defer:  # served: the event loop only reads caches; the engine pool fills them (app/work.py)
            doc = self._doc = pn.state.curdoc
            self._jobs = work.Coalescer(self._compute_missing, self._computed, lambda fn: _schedule(doc, fn))
            if not warm_run():
                pn.state.onload(self._load)
                pn.state.on_session_destroyed(lambda _context: (self._jobs.close(), self._train_stop.set()))
        self._set_configurations(configs)
        self._plot_cards.active = self.plot_tab
        self._plot_cards.param.watch(lambda event: setattr(self, "plot_tab", event.new), "active")

    # ---- the view's settings (URL) ------------------------------------------------------------------------
    def _apply_view(self, view: dict) -> list[str]:
        """Set the view's settings from the URL's text (urlstate.VIEW); returns what was refused."""
        problems = []
        for key, text in view.items():
            name = urlstate.VIEW[key]
            parameter = self.param[name]
            try:
                if isinstance(parameter, param.Boolean):
                    value = {"1": True, "0": False}[text]
                elif isinstance(parameter, param.Integer) or isinstance(parameter.default, int):
                    value = int(text)
                else:
                    value = text
                if isinstance(parameter, param.Integer) and parameter.bounds:
                    lo, hi = parameter.bounds
                    value = max(lo, value if hi is None else min(hi, value))
                setattr(self, name, value)
            except (KeyError, ValueError, OverflowError):
                problems.append(f"ignored {key}={text!r}")
        return problems

    def _view(self) -> dict:
        """The view's settings that differ from their defaults, by URL key."""
        return {key: getattr(self, name) for key, name in urlstate.VIEW.items()
                if getattr(self, name) != self.param[name].default}

    @param.depends("plot_tab", watch=True)
    def _show_plot_tab(self) -> None:
        if self._plot_cards.active != self.plot_tab:
            self._plot_cards.active = self.plot_tab
        self._request()
        self._write_url()

    @param.depends("train_data", "train_optimizer", "train_steps", watch=True)
    def _settings_changed(self) -> None:
        self._write_url()

    @param.depends("theme", watch=True)
    def _set_theme(self) -> None:
        """Served: reload the page in the new theme (Panel reads ``theme`` from the URL); in a notebook the
        notebook's own theme applies."""
        if self._location is not None and self._loaded:
            self._location.reload = True
            self._write_url()

    def reset(self) -> None:
        """Back to the first preset and the default view (the URL then holds no settings)."""
        self.param.update(preset=self.param.preset.default, plot_tab=0, finite_width=self.param.finite_width.default,
                          train_data=self.param.train_data.default, train_optimizer=self.param.train_optimizer.default,
                          train_steps=self.param.train_steps.default)
        self.apply_preset()

    def _load(self) -> None:
        """After the first page is shown: compute in the engine pool, then draw."""
        _start_warmup_now()  # the default view's other tabs, and the export back end, in the background
        self._loaded = True
        self._request(force=True)

    # ---- engine work (served: in the pool, app/work.py) ----------------------------------------------------
    def _needed(self):
        """(configuration, parts) that the first tab and the visible plot tab draw."""
        keys = TABS[self._plot_cards.active][1] if self._plot_cards.active < len(TABS) else ()
        # the parts the plot specs read; the phase diagram is drawn for the edited configuration only
        tab = {p for k in keys for p in (("phase",) if k == "phase" else specs.SPECS[k].parts)}
        active = min(self.active, len(self.configurations) - 1)
        for i, cfg in enumerate(list(self.configurations)):
            parts = Configuration.FIRST_TAB + tuple(sorted(p for p in tab - set(Configuration.FIRST_TAB)
                                                           if p != "phase" or i == active))
            yield cfg, parts

    def _request(self, force: bool = False) -> None:
        """Compute what is missing in the pool (served), showing the plots busy meanwhile."""
        if self._jobs is None or not self._loaded:
            return
        if force or any(cfg.missing(parts) for cfg, parts in self._needed()):
            self._busy(True)
            self._jobs.request()

    def _compute_missing(self) -> None:  # in a pool thread
        for cfg, parts in self._needed():
            cfg.warm(parts)

    def _computed(self) -> None:  # on the session's event loop, once no newer request waits
        with hold():  # one message to the browser (spinners, toasts, curves, readouts), not one per change
            self._busy(self._jobs.busy)
            for cfg in self.configurations:
                self._notify_error(cfg)
            self._refresh()

    def _busy(self, flag: bool) -> None:
        """A spinner beside each drawn plot's title while its data is computed (the plots stay usable)."""
        # (shown and hidden by its style, not ``visible``: a pane made visible before the browser has drawn it, as
        # in a plot tab just opened, raised a TypeError in Panel's script)
        for spinner in self._spinners:
            if spinner.value != flag:
                spinner.param.update(value=flag, styles=_shown(flag))

    # ---- configurations ------------------------------------------------------------------------------
    def _new_config(self, state: dict) -> Configuration:
        cfg = Configuration()
        for k, v in state.items():  # one at a time: a bad value (e.g. from a URL) is skipped, not fatal
            try:
                setattr(cfg, k, v)
            except ValueError as exc:
                self._notify(f"ignored {k}={v!r}: {exc}", "warning")
        return cfg

    def _set_configurations(self, configs) -> None:
        for cfg in configs:
            if not getattr(cfg, "_dashboard_watch", False):
                cfg.param.watch(lambda *events, c=cfg: self._changed(c), list(Configuration.STATE_FIELDS))
                cfg._dashboard_watch = True
            cfg.blocking = self._jobs is None
            cfg.finite_width = self.finite_width
            cfg.compute()
        self.active = min(self.active, len(configs) - 1)
        self.configurations = list(configs)
        self._name_configurations()
        self._show_editors()
        self._refresh(force=True)
        self._request()

    def _show_editors(self) -> None:
        """The editor tabs, titled and coloured like the configurations' curves; tab ``active`` shown."""
        # titled by number and coloured like the curves, so that MAX_CONFIGS tabs fit the sidebar (the full
        # name heads the editor)
        self._editors[:] = [(f"{i + 1}", self._editor(c)) for i, c in enumerate(self.configurations)]
        self._editors.active = self.active
        marks = "".join(
            f".bk-tab:nth-child({i + 1})::before {{ content: '■ '; color: {c.colour}; }}"
            for i, c in enumerate(self.configurations)
        )
        self._editors.stylesheets = [marks]

    def _editor(self, cfg):
        """``cfg``'s editor, built when its tab is first shown."""
        if getattr(cfg, "_editor_view", None) is None:
            cfg._editor_view = pn.param.ParamFunction(
                lambda: cfg.editor(on_remove=self.remove, on_duplicate=self.duplicate), lazy=True
            )
        return cfg._editor_view

    def _name_configurations(self) -> None:
        """Configurations with the same name are told apart by a suffix: "tanh · EOC · L=100 (2)"."""
        seen: dict[str, int] = {}
        for cfg in self.configurations:
            cfg.label_suffix = ""
            base = cfg.label()
            seen[base] = seen.get(base, 0) + 1
            cfg.label_suffix = f" ({seen[base]})" if seen[base] > 1 else ""

    def _next_colour(self) -> str:
        used = {c.colour for c in self.configurations}
        return next((c for c in PALETTE if c not in used), PALETTE[len(self.configurations) % len(PALETTE)])

    def add(self, state: dict | None = None) -> Configuration | None:
        """Add a configuration and return it; by default tanh at its edge of chaos with σ_b = 0.22 (Schoenholz
        et al. 2017's point; at σ_b = 0 the signal vanishes, q* = 0) at the edited configuration's depth."""
        if len(self.configurations) >= MAX_CONFIGS:
            self._notify(f"at most {MAX_CONFIGS} configurations", "warning")
            return None
        if state is None:
            depth = self.configurations[self.active].depth if self.configurations else TANH_EOC["depth"]
            state = {**TANH_EOC, "depth": depth}
        state = dict(state)
        state.setdefault("colour", self._next_colour())
        cfg = self._new_config(state)
        self._set_configurations([*self.configurations, cfg])
        self.active = len(self.configurations) - 1  # edit the new one
        return cfg

    def duplicate(self, cfg: Configuration) -> Configuration | None:
        """Add a copy of ``cfg`` in a new colour (its name gets a suffix while the settings are the same)."""
        return self.add({**cfg.state(), "colour": self._next_colour()})

    def remove(self, cfg: Configuration) -> None:
        if len(self.configurations) <= 1:
            self._notify("keep at least one configuration", "warning")
            return
        self._set_configurations([c for c in self.configurations if c is not cfg])

    def apply_preset(self, name: str | None = None) -> None:
        """Replace the configurations by a preset's."""
        name = name or self.preset
        self.active = 0
        self._set_configurations([self._new_config(s) for s in PRESETS[name]["configs"]])

    # ---- updates -------------------------------------------------------------------------------------
    def _notify(self, message: str, kind: str = "error"):
        """A toast. Notifications render HTML, and messages repeat what a user or a URL supplied (names,
        expressions, URL values), so the text is escaped: it is shown, never interpreted."""
        notifications = getattr(pn.state, "notifications", None)
        if notifications is not None:
            return getattr(notifications, kind)(html.escape(message), duration=6000)
        return None

    def _changed(self, cfg: Configuration) -> None:
        with hold():  # one message to the browser (see _computed)
            self._name_configurations()
            self._notify_error(cfg)  # (served: from the cache; a new result is drawn by _computed)
            self._refresh()
            self._request()

    def _notify_error(self, cfg: Configuration) -> None:
        """Compute (or, served, read) ``cfg``'s curves; a toast when its error is new."""
        before = getattr(cfg, "_shown_error", "")
        cfg.compute()
        if cfg.error and cfg.error != before and cfg.ready():
            # one toast per configuration: a slider moved through an unreachable region replaces it, never stacks
            toast = getattr(cfg, "_toast", None)
            if toast is not None:
                toast.destroy()
            cfg._toast = self._notify(f"{cfg.label()}: {cfg.error}")
        cfg._shown_error = cfg.error if cfg.ready() else before

    def _signature(self):
        """What the plots are built for: the configurations' count and colours, the mode (names are updated in
        place)."""
        return (tuple(c.colour for c in self.configurations), self.presentation)

    @param.depends("active", watch=True)
    def _show_active(self) -> None:
        with hold():
            if self.active < len(self._editors):  # (before the configurations are set, _show_editors does it)
                self._editors.active = self.active
            self._refresh()
            self._request()

    @param.depends("presentation", watch=True)
    def _refresh(self, force: bool = False) -> None:
        """Rebuild the plots when their structure changed (names, colours, count), else update the changed
        configurations' curves in place."""
        if not self.configurations:
            return
        sig = self._signature()
        with hold():
            if force or sig != self._structure:
                if not force:
                    self._show_editors()  # a name or colour changed
                self._structure = sig
                self._live = {}  # built when their tab is first shown (a session starts with tab 1 only)
                self._spinners = []
                active_tab = self._plot_cards.active
                # the tab shown is built now, with the page (its curves are usually cached: warm_first_view);
                # the others when first opened
                self._plot_cards[:] = [
                    (name, self._tab(keys) if i == active_tab else pn.param.ParamFunction(
                        lambda keys=keys: self._tab(keys), lazy=True, sizing_mode="stretch_width"))
                    for i, (name, keys) in enumerate(TABS)
                ]
                self._plot_cards.active = active_tab
            else:
                for live in self._live.values():
                    live.update(self.configurations, self.active)
            self.revision += 1
        self._write_url()

    def _write_url(self) -> None:
        if self._location is None or not self._loaded:  # before onload the browser overwrites the URL
            return
        query = urlstate.encode([c.state() for c in self.configurations], self._view())
        if self._location.search.lstrip("?") != query:
            self._location.search = "?" + query

    @property
    def fontscale(self) -> float:
        return 1.6 if self.presentation else 1.0

    def figure(self, key: str, backend: str = "bokeh"):
        """The HoloViews object of plot ``key`` (see PLOTS) for the current configurations."""
        from . import plots  # HoloViews: imported on first use, not for the first page

        kw = {"active": self.active} if key == "phase" else {}
        return plots.BUILDERS[key](self.configurations, backend=backend, fontscale=self.fontscale, **kw)

    def _tab(self, keys):
        cards = [self._plot_card(key, dict(PLOTS)[key]) for key in keys]
        if self.presentation:  # the plots' legend, in HTML: it wraps, and never hides a curve
            legend = pn.pane.HTML(pn.bind(lambda _: self._legend_html(), self.param.revision),
                                  sizing_mode="stretch_width", css_classes=["sigprop-legend"], margin=(0, 10))
            return pn.Column(legend, pn.FlexBox(*cards, sizing_mode="stretch_width"), sizing_mode="stretch_width")
        return pn.FlexBox(*cards, sizing_mode="stretch_width")

    def _legend_html(self) -> str:
        items = "".join(f'<span style="margin-right:1.2em;white-space:nowrap">{_swatch(c)}</span> '
                        for c in self.configurations)
        return f'<div style="display:flex;flex-wrap:wrap">{items}</div>'

    def live(self, key: str) -> LivePlot | LivePhasePlot:
        """The live Bokeh figure of plot ``key`` (built on first use)."""
        if key not in self._live:
            if key == "phase":
                self._live[key] = LivePhasePlot(self.configurations, self.active, self._on_tap, self.fontscale)
            else:
                self._live[key] = LivePlot(specs.SPECS[key], self.configurations, self.fontscale)
        return self._live[key]

    def _plot_card(self, key: str, title: str):
        pane = pn.pane.Bokeh(self.live(key).figure, sizing_mode="stretch_width", css_classes=[f"sigprop-plot-{key}"])
        buttons = [
            pn.widgets.FileDownload(
                callback=self._exporter(key, fmt),
                filename=f"sigprop_{key}.{fmt}",
                label=fmt.upper(),
                color="light",
                width=70,
                css_classes=[f"sigprop-export-{key}-{fmt}"],
                stylesheets=[BUTTON_CSS],
            )
            for fmt in export.FORMATS
        ]
        busy = self._jobs is not None and self._jobs.busy
        spinner = pn.indicators.LoadingSpinner(  # the busy indicator (served: see _request)
            value=busy, styles=_shown(busy), size=18, margin=(2, 0), css_classes=["sigprop-busy"])
        self._spinners.append(spinner)
        # the title in HTML, which wraps (a canvas title is cut off in a narrow plot or at projector sizes)
        subtitle = f" · {specs.SPECS[key].title}" if key in specs.SPECS else ""
        return pn.Column(
            pn.Row(pn.pane.Markdown(f"**{title}**{subtitle}", margin=(0, 10), sizing_mode="stretch_width",
                                    css_classes=["sigprop-plot-title"]), spinner),
            *self._card_controls(key),
            pane,
            explain.explanation(key, collapsed=not self.presentation),
            pn.Row(*buttons),
            sizing_mode="stretch_width",
            min_width=320,  # (a phone's width: two cards side by side from about 700 px)
            styles={"flex": "1 1 45%"},
            css_classes=[f"sigprop-card-{key}"],
        )

    def _exporter(self, key: str, fmt: str):
        def callback():
            from . import plots

            kw = {"active": self.active} if key == "phase" else {}
            return io.BytesIO(export.export(plots.BUILDERS[key], self.configurations, fmt, **kw))

        return callback

    def _on_tap(self, x=None, y=None) -> None:
        """Click on the phase diagram: the active configuration becomes Standard with σ_w² = x, σ_b² = y."""
        if x is None or y is None or not self.configurations:
            return
        cfg = self.configurations[self.active]
        lo, hi = Configuration.param.sigma_w.bounds
        sw = float(np.clip(np.sqrt(max(x, 0.0)), lo, hi))
        sb = float(np.clip(np.sqrt(max(y, 0.0)), *Configuration.param.sigma_b.bounds))
        cfg.param.update(method="standard", scheme="custom", sigma_w=round(sw, 4), sigma_b=round(sb, 4))

    # ---- plots 8 and 9: finite width and training -----------------------------------------------------
    @param.depends("finite_width", watch=True)
    def _set_finite_width(self) -> None:
        for cfg in self.configurations:
            cfg.finite_width = self.finite_width
        self._refresh()
        self._request()

    def train(self) -> None:
        """Train every configuration's finite network on digits (plot 9), one after another in the process's
        training thread, drawing each evaluation as it arrives; :meth:`stop_training` ends it."""
        if self._train_future is not None and not self._train_future.done():
            self._notify("training is already running: stop it first", "warning")
            return
        self._train_stop = threading.Event()
        jobs = [(cfg, cfg.spec()) for cfg in self.configurations]
        for cfg, spec in jobs:
            cfg.training, cfg.training_spec = (), spec
            cfg.train_revision += 1
        steps, optimizer, dataset = int(self.train_steps), self.train_optimizer, self.train_data
        self.param.update(training_done=0, training_total=len(jobs) * (steps // data.TRAIN_EVERY + 1),
                          training_status="queued (one training at a time per server)")
        self._post(self._draw_training)
        self._train_future = work.trainer().submit(self._train_all, jobs, optimizer, steps, dataset, self._train_stop)

    def stop_training(self) -> None:
        self._train_stop.set()

    def _post(self, fn) -> None:
        """Run ``fn`` where the session's widgets may be changed: its event loop when served, here otherwise."""
        if self._doc is not None:
            _schedule(self._doc, fn)
        else:
            fn()

    def _train_all(self, jobs, optimizer: str, steps: int, dataset: str, stop: threading.Event) -> None:
        # (in the training thread)
        problems, done = [], [0]
        # K-FAC's step is compiled for each network before its first trained point (≈15 s at depth 50 here)
        wait = " · K-FAC: a network's first run compiles its step (10–20 s)" if optimizer == "kfac" else ""
        for i, (cfg, spec) in enumerate(jobs):
            if stop.is_set():
                break
            label = cfg.label()
            self._post(lambda i=i, label=label: setattr(
                self, "training_status", f"training {i + 1}/{len(jobs)}: {label}{wait}"))
            points: list = []

            def on_point(point, cfg=cfg, points=points):
                points.append((point["step"], point["train_loss"], point["test_accuracy"]))
                cfg.training = tuple(points)
                cfg.train_revision += 1
                done[0] += 1
                self._post(lambda n=done[0]: (setattr(self, "training_done", n), self._draw_training()))

            try:
                data.train(spec, optimizer, steps, callback=on_point, stop=stop.is_set, dataset=dataset)
            except (ValueError, ArithmeticError) as exc:
                problems.append(f"{label}: {exc}")
        status = "stopped" if stop.is_set() else "done"
        status += f" ({len(problems)} not trained: {'; '.join(problems)})" if problems else ""
        self._post(lambda: (self.param.update(training_status=status), self._draw_training()))

    def _draw_training(self) -> None:
        with hold():
            for key in ("training", "accuracy"):
                if key in self._live:
                    self._live[key].update(self.configurations, self.active)

    def _card_controls(self, key: str) -> list:
        """The widgets above plots 8 and 9 (their settings are the dashboard's, not a configuration's)."""
        if key == "finite":
            width = pn.widgets.Select.from_param(self.param.finite_width, name="Width N", width=110,
                                                 css_classes=["sigprop-finite-width"])
            note = pn.pane.Markdown(
                f"{data.FINITE_SEEDS} networks sampled exactly (Gaussian weights; orthogonal for Looks-Linear); "
                "the band narrows like 1/√N.", margin=(0, 10))
            return [pn.Row(width, note, sizing_mode="stretch_width")]
        if key == "training":
            optimizer = pn.widgets.Select.from_param(self.param.train_optimizer, name="Optimiser", width=150,
                                                     css_classes=["sigprop-train-optimizer"])
            steps = pn.widgets.Select.from_param(self.param.train_steps, name="Steps", width=80,
                                                 css_classes=["sigprop-train-steps"])
            dataset = pn.widgets.Select.from_param(self.param.train_data, name="Data", width=200,
                                                   css_classes=["sigprop-train-data"])
            start = pn.widgets.Button(label="Train", color="primary", width=80, css_classes=["sigprop-train"],
                                      stylesheets=[BUTTON_CSS], align="end")
            start.on_click(lambda _: self.train())
            stop = pn.widgets.Button(label="Stop", color="light", width=80, css_classes=["sigprop-train-stop"],
                                     stylesheets=[BUTTON_CSS], align="end")
            stop.on_click(lambda _: self.stop_training())
            progress = pn.indicators.Progress(value=self.param.training_done, max=self.param.training_total,
                                              width=160, align="center", css_classes=["sigprop-train-progress"])
            # the status repeats configuration names a user typed: plain text (Str), never Markdown or HTML
            status = pn.pane.Str(self.param.training_status, css_classes=["sigprop-train-status"], margin=(0, 10))
            return [pn.Row(dataset, optimizer, steps, sizing_mode="stretch_width"),
                    pn.Row(start, stop, progress, status, sizing_mode="stretch_width")]
        return []

    # ---- readouts ------------------------------------------------------------------------------------
    def readouts(self) -> list[dict]:
        """One dict per configuration: C'_f(1), C'_f(0), C_f(0), max|C_f(c) − c| between Theorem 13's lower bound
        and the tightest upper bound, q*, χ₁, ξ_c (None where failed)."""
        rows = []
        for cfg in self.configurations:
            cv = cfg.compute()
            row = {"configuration": cfg.label(), "method": METHOD_NAMES[cfg.method], "error": cfg.error}
            if cv is not None:
                row.update(cv.readouts)
                row.update(cfg.extra("point") or {})
            rows.append(row)
        return rows

    def _readouts_html(self, revision=None) -> str:
        cols = ("depth", "C'_f(1)", "C'_f(0)", "C_f(0)", "Thm 13 lower", "max|C_f(c) - c|", "bound", "q*", "χ₁",
                "ξ_c")
        head = "".join(f"<th>{html.escape(c)}</th>" for c in ("configuration", "method", *cols))
        body = []
        for cfg, row in zip(self.configurations, self.readouts()):
            if not cfg.blocking and not cfg.ready():
                cells = f'<td colspan="{len(cols)}">computing…</td>'
            elif row["error"]:
                cells = f'<td colspan="{len(cols)}" class="sigprop-row-error">{html.escape(row["error"])}</td>'
            else:
                cells = "".join(f"<td>{_fmt(row.get(c))}</td>" for c in cols)
            body.append(f"<tr><td>{_swatch(cfg)}</td><td>{row['method']}</td>{cells}</tr>")
        return f'<table class="sigprop-table">{"<tr>" + head + "</tr>"}{"".join(body)}</table>'

    def constants(self) -> list[dict]:
        """Per configuration: the method's constants (α, β, γ, δ, σ_w, σ_b, slope, ...)."""
        out = []
        for cfg in self.configurations:
            cv = cfg.compute()
            out.append(
                {
                    "configuration": cfg.label(),
                    "method": METHOD_NAMES[cfg.method],
                    **(cv.constants if cv is not None else {}),
                }
            )
        return out

    def _constants_html(self, revision=None) -> str:
        rows = self.constants()
        keys = []
        for r in rows:
            keys += [k for k in r if k not in keys and k not in ("configuration", "method")]
        head = "".join(f"<th>{html.escape(k)}</th>" for k in ("configuration", "method", *keys))
        body = "".join(
            f"<tr><td>{_swatch(cfg)}</td><td>{r['method']}</td>"
            + "".join(f"<td>{_fmt(r.get(k))}</td>" for k in keys)
            + "</tr>"
            for cfg, r in zip(self.configurations, rows)
        )
        return f'<table class="sigprop-table">{"<tr>" + head + "</tr>"}{body}</table>'

    # ---- layout --------------------------------------------------------------------------------------
    def _controls(self) -> list:
        preset = pn.widgets.Select.from_param(self.param.preset, label="Preset", css_classes=["sigprop-preset"])
        apply = pn.widgets.Button(label="Load preset", color="primary", css_classes=["sigprop-apply"],
                                  stylesheets=[BUTTON_CSS])
        apply.on_click(lambda _: self.apply_preset())
        add = pn.widgets.Button(label="+ Add configuration", color="success", css_classes=["sigprop-add"],
                                stylesheets=[BUTTON_CSS])
        add.on_click(lambda _: self.add())
        present = pn.widgets.Toggle.from_param(
            self.param.presentation, label="Presentation mode", css_classes=["sigprop-present"],
            stylesheets=[BUTTON_CSS],
        )
        present.jscallback(value=FOLD_SIDEBAR_JS)  # (served: the template's sidebar folds with it)
        reset = pn.widgets.Button(label="Reset", color="light", css_classes=["sigprop-reset"],
                                  stylesheets=[BUTTON_CSS])
        reset.on_click(lambda _: self.reset())
        view = [present, reset]
        if self._location is not None:  # served: the page reloads in the theme (not in a notebook)
            view.insert(1, pn.widgets.Select.from_param(self.param.theme, name="", width=90,
                                                        css_classes=["sigprop-theme"]))
        text = pn.pane.Markdown(pn.bind(lambda p: PRESETS[p]["text"], self.param.preset), margin=(0, 10))
        return [preset, text, apply, pn.Row(*view), add, self._editors]

    def _table_card(self, title: str, render, key: str) -> pn.Card:
        """A collapsible card: a readout table, the formulas (readouts) and its explanation."""
        table = pn.pane.HTML(pn.bind(render, self.param.revision), css_classes=[f"sigprop-{key}"],
                             sizing_mode="stretch_width", stylesheets=[TABLE_CSS],
                             styles={"overflow-x": "auto"})  # (a narrow screen scrolls the table, not the page)
        self._tables.append(table)
        body = [table]
        if key == "readouts":
            body += [explain.formula(f, margin=(0, 20)) for f in FORMULAS]
        body.append(explain.explanation(key, collapsed=True))
        return pn.Card(*body, title=title, collapsed=self.presentation, sizing_mode="stretch_width",
                       css_classes=[f"sigprop-card-{key}"])

    def _main(self) -> list:
        self._tables = []
        readouts = self._table_card("Readouts (whole network, input q = 1)", self._readouts_html, "readouts")
        consts = self._table_card(
            "Method constants (φ̂(x) = γ(φ(αx + β) + δ), W ~ N(0, σ_w²/N), b ~ N(0, σ_b²))", self._constants_html,
            "constants")
        self._cards = (readouts, consts)
        return self._arrangement()

    def _arrangement(self) -> list:
        """The main column's order: the tables first, or (presentation) the plots first, tables folded."""
        if self.presentation:
            return [self._plot_cards, *self._cards]
        return [*self._cards, self._plot_cards]

    @param.depends("presentation", watch=True)
    def _arrange(self) -> None:
        """Presentation mode on or off: reorder, fold the tables, enlarge every text."""
        for table in self._tables:
            table.stylesheets = [TABLE_CSS, PRESENT_TABLE_CSS] if self.presentation else [TABLE_CSS]
        if self._layout is None:
            return
        sidebar, main = self._layout
        for card in self._cards:
            card.collapsed = self.presentation
        main[:] = self._arrangement()
        sidebar.stylesheets = self._column_css()
        main.stylesheets = [PHONE_MAIN_CSS, *self._column_css()]

    def _column_css(self) -> list[str]:
        return [*([PRESENT_CSS] if self.presentation else []), *([DARK_CSS] if self.theme == "dark" else [])]

    def _build(self):
        if self._layout is None:
            css = self._column_css()
            self._layout = (
                pn.Column(*self._controls(), width=380, stylesheets=css, css_classes=["sigprop-sidebar"]),
                pn.Column(*self._main(), sizing_mode="stretch_width", stylesheets=[PHONE_MAIN_CSS, *css],
                          css_classes=["sigprop-main"]),
            )
        return self._layout

    def __panel__(self):
        sidebar, main = self._build()
        return pn.Row(sidebar, main, sizing_mode="stretch_width")

    def _repr_mimebundle_(self, include=None, exclude=None):
        """Shown in a notebook: KaTeX's fonts are declared in the notebook's page first, as a document-level
        ``<style>`` of data URLs (``@font-face`` in a shadow root is ignored, and a notebook has no static folder;
        the served page has them in the template's head instead). About 340 KiB, once per display."""
        from IPython.display import HTML, display

        display(HTML(f'<style class="sigprop-katex-fonts">{explain.font_faces(None)}</style>'))
        return super()._repr_mimebundle_(include, exclude)

    def template(self):
        """A BootstrapTemplate (no outside font requests) holding the dashboard."""
        sidebar, main = self._build()
        template = pn.template.BootstrapTemplate(
            title="sigprop · signal propagation laboratory", sidebar=[sidebar], main=[main], sidebar_width=400,
            theme="dark" if self.theme == "dark" else "default", collapsed_sidebar=self.presentation,
            raw_css=[explain.font_faces(), PHONE_CSS],  # KaTeX's fonts, from the app's static folder
            # No template-wide busy spinner: Panel's follows the process-wide ``state.busy``, so every event of
            # any session set the spinner of every open session, twice (on, off). With 80 sessions open, a
            # slider move cost the server 125 ms instead of 12 (tests/app/test_load.py). The plots have
            # their own spinners, which follow this session's computations only.
            busy_indicator=None,
        )
        if pn.state.curdoc is not None:  # a phone opens on the plots, the controls one tap away
            pn.state.curdoc.js_on_event("document_ready", CustomJS(code=PHONE_FOLD_JS))
        return template

    def servable(self, title: str | None = None, **kw):
        """Serve the template. The page's Bokeh models are added with the document's model index frozen: left
        live, Bokeh re-walks every model of the page each time Panel swaps in a pane (11 times for the first
        page), which was ~0.7 s of a ~1.6 s page build on this machine; frozen, it walks them once."""
        doc = pn.state.curdoc
        if doc is None or doc.session_context is None:
            return self.template().servable(title=title or "sigprop", **kw)
        with doc.models.freeze():
            return self.template().servable(title=title or "sigprop", **kw)


TABLE_CSS = """
table.sigprop-table { border-collapse: collapse; width: 100%; }
table.sigprop-table th, table.sigprop-table td { border-bottom: 1px solid #ddd; padding: 3px 8px; text-align: right; }
table.sigprop-table th:first-child, table.sigprop-table td:first-child { text-align: left; }
td.sigprop-row-error { color: #b00020; text-align: left !important; }
"""
