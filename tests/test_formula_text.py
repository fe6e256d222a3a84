"""Formulas for people (``losskit show``, ``help(lk.huber)``) and a discoverable ``dir(lk)``."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import unicodedata

import pytest

import losskit as lk
from losskit._formula import latex_to_text

FORMULAS = [(loss.name, which, getattr(loss, which)) for loss in lk.catalog()
            for which in ("formula", "gradient_formula")]


# ----------------------------------------------------------------------- the whole catalog

@pytest.mark.parametrize(("name", "which", "latex"), FORMULAS, ids=[f"{n}-{w}" for n, w, _ in FORMULAS])
def test_every_catalog_formula_renders_without_latex_left(name, which, latex):
    text = latex_to_text(latex, strict=True)  # strict: a command without a rendering raises
    assert unicodedata.is_normalized("NFC", text)  # ŷ composed, as terminals measure it best
    assert text and "\\" not in text and "begin" not in text
    # Braces survive only as set braces written \{ \} (hinge: y ∈ {−1, +1}).
    assert text.count("{") == latex.count("\\{") and text.count("}") == latex.count("\\}")
    assert "  " not in text and text == text.strip()
    assert "-" not in text.replace("−", "") or "\\text" in latex  # a minus sign, not a hyphen
    # Brackets stay balanced: nothing of the formula's grouping was lost.
    for opening, closing in ("()", "[]"):
        assert text.count(opening) == text.count(closing), text


# ------------------------------------------------------------------------------ spot checks

EXPECTED = {
    ("huber", "formula"): "ℓ = ½e² if |e| ≤ δ, else δ(|e| − ½δ), e = ŷ − y",
    ("huber", "gradient_formula"): "∂ℓ/∂ŷ = clip(e, −δ, δ)",
    ("mean_squared_error", "formula"): "ℓ = (ŷ − y)²",
    ("half_squared_error", "formula"): "ℓ = ½(ŷ − y)²",
    ("pseudo_huber", "formula"): "ℓ = δ²(√(1 + (e/δ)²) − 1)",
    ("pseudo_huber", "gradient_formula"): "∂ℓ/∂ŷ = e/√(1 + (e/δ)²)",
    ("root_mean_squared_error", "formula"): "RMSE = √(Σᵢ wᵢ(ŷᵢ − yᵢ)²/Σᵢ wᵢ)",
    ("mean_absolute_percentage_error", "formula"): "ℓ = 100|ŷ − y|/max(|y|, ε), ε = 10⁻⁷",
    ("gamma_deviance", "formula"): "ℓ = 2(log(ŷ/y) + y/ŷ − 1)",
    ("geman_mcclure", "gradient_formula"): "∂ρ/∂ŷ = (16e/c²)/((e/c)² + 4)²",
    ("sigmoid_cross_entropy", "formula"): "ℓ = w₊y softplus(−x) + (1 − y) softplus(x), w₊ = pos_weight",
    ("hinge", "formula"): "ℓ = max(0, 1 − yf), y ∈ {−1, +1}",
    ("logistic", "formula"): "ℓ = log(1 + e⁻ʸᶠ)",
    ("modified_huber", "gradient_formula"): "∂ℓ/∂f = y·(−2 max(0, 1 − z) if z ≥ −1, else −4)",
    ("categorical_cross_entropy", "formula"): "ℓ = −Σ_c w_c y_c log p_c",
    ("smooth_l1", "formula"): "ℓ = 1/(2β)e² if |e| < β, else |e| − ½β",
    ("triplet_margin", "gradient_formula"):
        "∂ℓ/∂a = [ℓ ≥ 0](∇dₐₚ − ∇dₐₙ), ∇‖z‖ₚ = sign(z)|z|ᵖ⁻¹/‖z‖ₚᵖ⁻¹",
    ("gaussian_nll", "formula"): "ℓ = ½(log max(v, ε) + (μ − y)²/max(v, ε)) [+½ log 2π if full]",
}


@pytest.mark.parametrize(("name", "which"), list(EXPECTED), ids=[f"{n}-{w}" for n, w in EXPECTED])
def test_catalog_formula_reads_as_written_by_hand(name, which):
    assert latex_to_text(getattr(lk.get(name), which)) == EXPECTED[name, which]


@pytest.mark.parametrize(("latex", "text"), [
    (r"\frac{a+b}{c}", "(a + b)/c"),  # a sum over a slash keeps its parentheses
    (r"\frac{a}{b c}", "a/(bc)"),  # so does a product under it
    (r"\frac{1}{1+e^{-x}}", "1/(1 + e⁻ˣ)"),
    (r"\tfrac{3}{4} x", "¾x"),
    (r"x_{i,j}^2", "x_(i, j)^2"),  # no Unicode subscript comma: spelt with _ and ^
    (r"\ell_{nc}", "ℓ_nc"),  # no subscript c
    (r"e^{x_c}", "e^(x_c)"),
    (r"\sum_{i=1}^{n} x_i", "Σᵢ₌₁ⁿ xᵢ"),
    (r"\sqrt[3]{x}", "∛x"),
    (r"\mathbb{1}[y \ne \hat y]", "𝟙[y ≠ ŷ]"),
    (r"\left\lVert x \right\rVert_2 \cdot y", "‖x‖₂·y"),
    (r"\text{if } x \in \mathbb{R}", "if x ∈ ℝ"),
    (r"-\infty < x \leq \infty", "−∞ < x ≤ ∞"),
    (r"\begin{cases} a & x > 0 \\ b & x = 0 \\ c & x < 0 \end{cases}", "a if x > 0, b if x = 0, else c"),
    (r"\begin{pmatrix}a & b \\ c & d\end{pmatrix}", "[a, b; c, d]"),
])
def test_constructs_outside_the_catalog(latex, text):
    assert latex_to_text(latex) == text


def test_an_unknown_command_raises_when_strict_and_loses_its_backslash_otherwise():
    with pytest.raises(ValueError, match=r"\\foo"):
        latex_to_text(r"\foo(x)", strict=True)
    assert latex_to_text(r"\foo(x)") == "foo(x)"


# -------------------------------------------------------------------- where people read them

def test_loss_exposes_its_formulas_as_text():
    assert lk.huber.formula_text == EXPECTED["huber", "formula"]
    assert lk.huber.gradient_formula_text == EXPECTED["huber", "gradient_formula"]
    assert lk.huber.formula.startswith("\\ell")  # the registry keeps LaTeX for the docs site


@pytest.mark.parametrize("loss", lk.catalog(), ids=lambda loss: loss.name)
def test_docstring_shows_the_unicode_formula_not_latex(loss):
    assert f"Formula: {loss.formula_text}\n" in loss.__doc__
    assert f"Gradient: {loss.gradient_formula_text}\n" in loss.__doc__
    assert loss.formula not in loss.__doc__


def test_show_prints_the_unicode_formula(capsys, monkeypatch):
    pytest.importorskip("typer")
    pytest.importorskip("rich")
    from losskit.cli import main

    monkeypatch.setenv("COLUMNS", "160")
    try:
        main(["show", "huber"])
    except SystemExit as exit_:
        assert exit_.code in (0, None)
    out = capsys.readouterr().out
    assert EXPECTED["huber", "formula"] in out and EXPECTED["huber", "gradient_formula"] in out
    assert "\\ell" not in out and "\\begin" not in out


# ------------------------------------------------------------------------------------ dir(lk)

def test_dir_lists_losses_aliases_and_the_public_functions():
    names = dir(lk)
    for name in ("recommend", "plot", "catalog", "get", "names", "lab", "conformance", "mse", "bce",
                 "huber", "huber_loss", "bce_with_logits", "Loss", "__version__"):
        assert name in names, name
    assert names == sorted(names)


def test_every_name_in_dir_resolves():
    frameworks = {"torch": "torch", "keras": "keras"}  # the adapters import their framework
    for name in dir(lk):
        if name in frameworks and importlib.util.find_spec(frameworks[name]) is None:
            continue
        getattr(lk, name)  # AttributeError (or ImportError) names what does not resolve


def test_all_lists_every_loss_and_alias_and_each_resolves_to_the_catalog_object():
    for loss in lk.catalog():
        assert loss.name in lk.__all__
        for alias in loss.aliases:
            assert alias in lk.__all__ and getattr(lk, alias) is loss
    assert {"recommend", "plot", "lab", "catalog", "get"} <= set(lk.__all__)
    assert len(lk.__all__) == len(set(lk.__all__))


def test_version_is_a_string():
    assert isinstance(lk.__version__, str) and lk.__version__[0].isdigit()


def test_star_import_gives_the_aliases_and_loads_no_optional_dependency():
    script = (
        "import sys, json\n"
        "from losskit import *\n"
        "assert mse is mean_squared_error and bce is binary_cross_entropy and callable(recommend)\n"
        "heavy = {'torch', 'jax', 'matplotlib', 'sklearn', 'keras', 'pandas', 'scipy', 'typer', 'rich'}\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & heavy)))"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


def test_import_loads_none_of_the_lazy_features():
    script = (
        "import sys, losskit\n"
        "dir(losskit)\n"
        "print(sorted(m for m in ('losskit.plotting', 'losskit.advisor', 'losskit.lab', 'losskit.conformance',"
        " 'losskit.torch', 'losskit.keras', 'losskit.boosting') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
