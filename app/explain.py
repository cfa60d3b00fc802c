"""What each plot and readout means, written for a student, with the formula it shows; and KaTeX rendering.

Every text states a definition or a formula of the papers the plot follows (Poole et al. 2016, arXiv:1606.05340;
Schoenholz et al. 2017, arXiv:1611.01232; Martens et al. 2021, arXiv:2110.01765; Zhang et al. 2022,
arXiv:2203.08120; Jacot et al. 2018, arXiv:1806.07572), not a number of the current view: the readouts give
the numbers.

KaTeX: Panel loads KaTeX's stylesheet into the page's head, which does not reach the shadow roots that Panel's
panes render into, and its LaTeX pane hides KaTeX's HTML to show the MathML fallback instead, so formulas came out
in the browser's MathML styling (primes as accents, 𝔼 as E).
:func:`formula` gives each pane the stylesheet itself (inlined from the copy Panel ships, so it works with no
internet, served or in a notebook); :func:`font_faces` declares KaTeX's fonts (shipped in ``static/katex``) for
the page, where browsers look fonts up.
"""

from __future__ import annotations

import base64
import functools
import html
import re
from pathlib import Path

import panel as pn

# plot key (app.dashboard.PLOTS) or table -> (explanation, formula in LaTeX)
EXPLANATIONS: dict[str, tuple[str, str]] = {
    "c_map": (
        "Two inputs whose cosine similarity is c enter a randomly initialised network of infinite width; "
        "C_f(c) is the cosine of its two outputs. Near the identity (dashed), the network keeps inputs apart; "
        "a curve flattened towards 1 means the output barely depends on which input came in (degeneration). "
        "Faint curves: the same network cut at shallower depths L^(k/4).",
        r"C_f = C_L \circ \cdots \circ C_1,\qquad C(c) = \dfrac{\sigma_w^2\,\mathbb{E}[\phi(u)\phi(v)] + \sigma_b^2}"
        r"{Q(q)},\ \ (u, v) \sim \mathcal{N}\!\left(0, q\begin{pmatrix}1 & c\\ c & 1\end{pmatrix}\right)",
    ),
    "one_minus_c": (
        "The same map near c = 1 on log–log axes, where degeneration starts: below the identity, two similar "
        "inputs come out even more similar. Close to c = 1 the curve is a line whose height is set by the slope "
        "C_f'(1).",
        r"1 - C_f(c) \approx C_f'(1)\,(1 - c)\quad (c \to 1)",
    ),
    "c_trajectory": (
        "One pair of inputs followed layer by layer, from four starting cosines c₀. When all of them approach the "
        "same value c*, the deep layers can no longer tell how different the inputs were.",
        r"c_l = C_l(c_{l-1}),\qquad c^* = C(c^*)",
    ),
    "q_map": (
        "Q(q) is the variance of a layer's pre-activations given the variance q of the layer before. Where it "
        "crosses the identity is the fixed point q* that a deep network's variance settles to (DKS and TAT set "
        "Q(1) = 1).",
        r"Q(q) = \sigma_w^2\,\mathbb{E}_{z \sim \mathcal{N}(0,1)}\big[\phi(\sqrt{q}\,z)^2\big] + \sigma_b^2",
    ),
    "q_trajectory": (
        "The variance of the pre-activations through the layers, from q₀ = 1: a falling curve is a vanishing "
        "signal, a rising one an exploding signal.",
        r"q_l = Q(q_{l-1}),\qquad q_0 = 1",
    ),
    "activation": (
        "The activation the network really uses. DKS and TAT transform φ with four constants (the table below) "
        "so that the whole network's Q and C maps meet their targets; the original φ is dotted.",
        r"\hat\phi(x) = \gamma\,\big(\phi(\alpha x + \beta) + \delta\big)",
    ),
    "ntk": (
        "The neural tangent kernel (Jacot et al. 2018) splits into one term per layer l: the inner product of the "
        "output's gradients with respect to layer l's weights at two inputs of cosine c. It says how a gradient "
        "step on one input moves the output on the other. For a linear network every term is c; for DKS, "
        "Theorem 27 of Martens et al. bounds the distance from c (thin dashed lines c ± 11(ζ − 1), when in range).",
        r"\Theta_l(c) = c_l \prod_{k=l}^{L-1} C'(c_k),\qquad \big|\Theta_l(c) - c\big| \le 11(\zeta - 1)\ "
        r"\text{(DKS)}",
    ),
    "ntk_condition": (
        "The condition number of the NTK's Gram matrix on 16 inputs spread on a circle, against depth: the ratio "
        "of its largest to smallest eigenvalue. Gradient descent on a kernel with a large κ is slow in its worst "
        "direction.",
        r"\kappa = \lambda_{\max}(\Theta) / \lambda_{\min}(\Theta)",
    ),
    "phase": (
        "Each pixel is one initialisation (σ_w², σ_b²) of the edited configuration's φ, coloured by χ₁: blue is "
        "the ordered phase (χ₁ < 1, inputs converge), red the chaotic phase (χ₁ > 1, inputs decorrelate); the "
        "black line is the edge of chaos χ₁ = 1 (for ReLU the vertical σ_w² = 2). Grey: the variance grows without "
        "bound from q₀ = 1, so there is no fixed point q* to take χ₁ at. Click to use a point.",
        r"\chi_1 = \sigma_w^2\,\mathbb{E}_{z}\big[\phi'(\sqrt{q^*}\,z)^2\big]",
    ),
    "finite": (
        "Real networks of finite width N, with random weights, against the infinite-width kernel (line): the "
        "band is the mean ± 2 standard deviations of their output cosines over random draws. It narrows as N "
        "grows, as the kernel is the N → ∞ limit.",
        r"\hat c_L = \dfrac{\langle h_L(x), h_L(x')\rangle}{\lVert h_L(x)\rVert\,\lVert h_L(x')\rVert} "
        r"\xrightarrow[N \to \infty]{} C_f(c)",
    ),
    "training": (
        "Training loss (softmax cross-entropy) of a finite network of each configuration on a small data set, "
        "after the Train button: the test of whether the kernel's picture (a degenerate C_f makes inputs look "
        "alike to the last layer) predicts which initialisations train fast.",
        r"\mathcal{L} = -\frac{1}{B} \sum_{i=1}^{B} \log \operatorname{softmax}\big(f(x_i)\big)[\,y_i\,]",
    ),
    "accuracy": (
        "Fraction of the held-out quarter of the data that the same runs classify correctly.",
        r"\text{accuracy} = \frac{1}{n} \sum_{i=1}^{n} \mathbf{1}\big[\arg\max f(x_i) = y_i\big]",
    ),
    "readouts": (
        "Numbers of the whole network for inputs of variance q = 1. C_f'(1) is the slope at c = 1 (how fast "
        "nearby inputs separate); C_f'(0) and C_f(0) describe the map at orthogonal inputs; max|C_f(c) − c| is "
        "the distance from the identity, which Theorem 13 of Martens et al. bounds from both sides; q*, χ₁ and "
        "the depth scale ξ_c are the EOC theory's numbers of one layer.",
        r"\tfrac14\big(1 - C_f'(0)\big) \le \max_c |C_f(c) - c| \le 2\big(1 - C_f'(0)\big),\qquad "
        r"\xi_c^{-1} = -\log C'(c^*)",
    ),
    "constants": (
        "The constants each method chose: the weight and bias scales σ_w, σ_b, and for DKS and TAT the "
        "transformation of φ (α, β, γ, δ), or TAT's negative slope for leaky ReLU.",
        r"W \sim \mathcal{N}(0, \sigma_w^2/N),\ b \sim \mathcal{N}(0, \sigma_b^2),\ \hat\phi(x) = \gamma\big("
        r"\phi(\alpha x + \beta) + \delta\big)",
    ),
}


FONTS = Path(__file__).parent / "static" / "katex" / "fonts"  # KaTeX's woff2 fonts (static/katex/README)
FONT_PREFIX = "sigprop-"  # the families, renamed so that the page's copy of KaTeX's stylesheet cannot claim them
SERVED_FONTS = "app/static/katex/fonts"  # where `panel serve app` serves FONTS, relative to the page /app


@functools.cache
def _katex_stylesheet() -> str:
    import panel.models.katex as katex_model

    dist = Path(pn.__file__).parent / "dist" / "bundled" / "katex"
    return (dist / f"katex@{katex_model.KATEX_VERSION}" / "dist" / "katex.min.css").read_text(encoding="utf-8")


@functools.cache
def font_faces(base: str | None = SERVED_FONTS) -> str:
    """Document-level ``@font-face`` rules of KaTeX's (renamed) families, the fonts read from URL ``base``, or
    inlined as data URLs when ``base`` is None (a notebook, which has no static folder). Fonts declared inside a
    shadow root are ignored by browsers, so these go into the page's head (the template's ``raw_css``)."""
    rules = []
    for rule in re.findall(r"@font-face\{[^}]*\}", _katex_stylesheet()):
        family = re.search(r"font-family:([^;]+);", rule).group(1)
        style = re.search(r"font-style:([^;]+);", rule).group(1)
        weight = re.search(r"font-weight:([^;]+);", rule).group(1)
        name = re.search(r"url\(fonts/([^)]+\.woff2)\)", rule).group(1)
        if base is None:
            url = "data:font/woff2;base64," + base64.b64encode((FONTS / name).read_bytes()).decode("ascii")
        else:
            url = f"{base}/{name}"
        rules.append(f'@font-face{{font-family:{FONT_PREFIX}{family};font-style:{style};font-weight:{weight};'
                     f'src:url({url}) format("woff2")}}')
    return "\n".join(rules)


@functools.cache
def katex_css() -> str:
    """KaTeX's stylesheet for a shadow root: Panel's copy without its ``@font-face`` rules (they would not apply
    there), its families renamed to those of :func:`font_faces`."""
    css = re.sub(r"@font-face\{[^}]*\}", "", _katex_stylesheet())
    # Panel's own pane stylesheet hides KaTeX's HTML and shows its MathML (the fallback): show the HTML again
    # (and presentation mode sets the size: its scripts, 0.7 of it, must reach 18 px; fractions are \dfrac so
    # that no script sits at the 0.5 of scripts in scripts)
    return css.replace("KaTeX_", FONT_PREFIX + "KaTeX_") + (
        "span.katex-html { display: inline-block; } .katex { font-size: var(--sigprop-katex-size, 1.21em); }")


def formula(tex: str, **kw) -> pn.pane.LaTeX:
    """A LaTeX pane rendered by KaTeX with its stylesheet (see the module's docstring)."""
    kw = {"sizing_mode": "stretch_width", "styles": {"overflow-x": "auto"}, **kw}  # (a phone scrolls a long one)
    return pn.pane.LaTeX(f"${tex}$", renderer="katex", stylesheets=[katex_css()], **kw)


def explanation(key: str, collapsed: bool = True) -> pn.Card:
    """The explanation of plot or table ``key``: a card, one click away (open in presentation mode)."""
    text, tex = EXPLANATIONS[key]
    return pn.Card(
        pn.pane.HTML(f"<p>{html.escape(text)}</p>", sizing_mode="stretch_width", margin=(0, 10)),
        formula(tex, margin=(0, 10)),
        header=pn.pane.HTML("<b>What this shows</b>", margin=(0, 5)),
        collapsed=collapsed,
        sizing_mode="stretch_width",
        css_classes=["sigprop-explain", f"sigprop-explain-{key}"],
        margin=(0, 5),
    )
