"""Teaching presets: each reproduces one of the key pictures of the EOC / DKS / TAT / Looks-Linear papers."""

from __future__ import annotations

from .config import PALETTE


def _c(colour, **spec) -> dict:
    """A preset configuration: no typed name, so its name follows the settings (Configuration.auto_name)."""
    return {"colour": colour, **spec}


# Schoenholz et al. 2017's tanh point (σ_b² ≈ 0.05, EOC σ_w² ≈ 1.76): at σ_b = 0 the tanh EOC is σ_w = 1 with
# q* = 0, a network that is nearly linear because its signal vanishes (depth 100: q falls from 1 to 0.005 and
# max|C_f(c) − c| = 0.06), which hides the degeneration.
TANH_EOC = {"activation": "tanh", "method": "eoc", "sigma_b": 0.22, "depth": 100}

DEFAULT = (
    _c(PALETTE[1], activation="relu", method="standard", scheme="he", depth=100),
    _c(PALETTE[0], **TANH_EOC),
    _c(PALETTE[2], activation="tanh", method="dks", zeta=1.5, depth=100),
    _c(PALETTE[3], activation="leaky_relu", method="tat", eta=0.9, depth=100),
)

PRESETS: dict[str, dict] = {
    "Default: four initialisations at depth 100": {
        "text": "Standard (He) ReLU and EOC tanh (σ_b = 0.22) degenerate: C_f(c) lies in [0.996, 1] and [0.93, 1]. "
        "DKS (ζ = 1.5) stays within 0.50 of the identity, with C_f(0) = 0 and C_f'(1) = 1.5. TAT does not stay near "
        "the identity (max|C_f(c) − c| = 1.88 at c = −1): it sets C_f(0) = η = 0.9 on purpose, and its range "
        "[0.88, 1] is 33× wider than He ReLU's.",
        "configs": DEFAULT,
    },
    "Deep ReLU degenerates even at the EOC": {
        "text": "ReLU at its edge of chaos (σ_w² = 2, σ_b = 0): C_f(c) flattens towards 1 as L grows "
        "(C_f(0) = 0.87, 0.996, 0.99996 at L = 10, 100, 1000). 1 − c_l ≈ 9π²/(2l²) is an asymptote for large l: "
        "from c_0 = 0 it overestimates 1 − c_l by 3.5× at l = 10, 1.24× at 100 and 1.03× at 1000.",
        "configs": (
            _c(PALETTE[2], activation="relu", method="eoc", depth=10),
            _c(PALETTE[0], activation="relu", method="eoc", depth=100),
            _c(PALETTE[1], activation="relu", method="eoc", depth=1000),
        ),
    },
    "DKS vs EOC for tanh at depth 100": {
        "text": "Same activation and depth: EOC tanh collapses (C_f(c) in [0.93, 1]); DKS (ζ = 1.5) has C_f(0) = 0, "
        "C_f'(1) = ζ and stays within 0.50 of the identity (the bound is 2(ζ − 1) = 1).",
        "configs": (
            _c(PALETTE[0], **TANH_EOC),
            _c(PALETTE[2], activation="tanh", method="dks", zeta=1.5, depth=100),
        ),
    },
    "TAT leaky ReLU, η = 0.9": {
        "text": "TAT picks the negative slope so that C_f(0) = η = 0.9 for the whole network; compare He-init ReLU.",
        "configs": (
            _c(PALETTE[3], activation="leaky_relu", method="tat", eta=0.9, depth=100),
            _c(PALETTE[1], activation="relu", method="standard", scheme="he", depth=100),
        ),
    },
    "Looks-Linear is the identity": {
        "text": "Looks-Linear (CReLU, mirrored orthogonal weights) is exactly linear at init: C_f(c) = c at any depth.",
        "configs": (
            _c(PALETTE[4], activation="relu", method="looks_linear", depth=1000),
            _c(PALETTE[0], activation="relu", method="eoc", depth=1000),
        ),
    },
}
