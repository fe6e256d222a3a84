"""The documentation: pages generated from the registry, the README's catalog table, the MkDocs build."""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import losskit as lk
from losskit import conformance, docgen
from losskit.advisor import RULES

REPO = Path(__file__).resolve().parents[1]
HAND_WRITTEN_PAGES = ["index.md", "getting-started.md", "reductions.md", "lab.md", "training-loops.md"]


# ------------------------------------------------------------------------------ loss pages

@pytest.mark.parametrize("loss", lk.catalog(), ids=lambda loss: loss.name)
def test_loss_page_has_its_formulas_as_display_math(loss):
    page = docgen.loss_page(loss)
    assert page.startswith(f"# {loss.name}\n")
    assert f"$$\n{loss.formula}\n$$" in page
    assert f"$$\n{loss.gradient_formula}\n$$" in page


@pytest.mark.parametrize("loss", lk.catalog(), ids=lambda loss: loss.name)
def test_loss_page_has_every_registry_field(loss):
    page = docgen.loss_page(loss)
    for text in (loss.summary, loss.prediction_space, loss.output_activation, loss.when_to_use, loss.when_not_to_use):
        assert text in page
    for param in loss.params:
        assert f"`{param.name}`" in page and param.constraint in page
    for pitfall in loss.pitfalls:
        assert pitfall in page
    for equivalent in loss.equivalents:
        assert f"`{equivalent.api}`" in page
    for line in loss.example.strip().splitlines():
        assert line.strip() in page


def test_loss_page_links_its_plot_when_given():
    page = docgen.loss_page(lk.huber, plot="huber.svg")
    assert "![huber: the loss and its gradient](huber.svg)" in page
    assert "](huber.svg)" not in docgen.loss_page(lk.huber)


def test_loss_page_shows_the_measured_conformance_next_to_each_equivalent():
    measured = conformance.Cell("differs", 0.5, "scaled: scikit-learn = 0.01 x losskit")
    table = conformance.ConformanceTable(("sklearn",), {"mean_absolute_percentage_error": {"sklearn": measured}})
    page = docgen.loss_page(lk.mape, conformance=table)
    assert "[conformance](../conformance.md)" in page
    assert "differs: scaled: scikit-learn = 0.01 x losskit" in page


def test_loss_without_equivalents_says_so():
    # Every catalog loss has an equivalent now (pseudo_huber gained kornia's charbonnier_loss).
    without = dataclasses.replace(lk.pseudo_huber, equivalents=())
    assert "No framework among" in docgen.loss_page(without)


@pytest.mark.parametrize("name", ["huber", "sigmoid_cross_entropy"])
def test_plot_is_an_svg_of_the_loss_and_its_gradient(name):
    svg = docgen.plot_svg(lk.get(name)).decode()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg and svg.rstrip().endswith("</svg>")
    assert "Gradient" in svg and name in svg  # text kept as text (svg.fonttype none)


# ------------------------------------------------------------------------ the other pages

def test_catalog_page_links_every_loss_once_under_its_task():
    page = docgen.catalog_page()
    for loss in lk.catalog():
        assert page.count(f"[`{loss.name}`](losses/{loss.name}.md)") == 1
    assert page.index("## Regression") < page.index("[`huber`]") < page.index("## Binary classification")


def test_advisor_page_has_a_row_per_rule():
    page = docgen.advisor_page()
    rows = [line for line in page.splitlines() if line.startswith("| [`")]
    assert len(rows) == len(RULES)
    for rule in RULES:
        assert rule.reason.replace("|", "\\|") in page
        assert f"](losses/{rule.loss}.md)" in page


def test_advisor_rules_name_losses_of_the_catalog():
    # The page links losses/<name>.md: a rule naming an alias would be a broken link.
    canonical = set(lk.names(include_aliases=False))
    assert {rule.loss for rule in RULES} <= canonical


def test_conformance_page_explains_the_tolerances_and_links_the_losses():
    table = conformance.ConformanceTable(("torch",), {"huber": {"torch": conformance.Cell("equal", 0.0)}})
    page = docgen.conformance_page(table)
    assert page.startswith("# Conformance with other frameworks")
    assert f"{conformance.RTOL_FLOAT64:g}" in page and f"{conformance.RTOL_FLOAT32:g}" in page
    assert "| [`huber`](losses/huber.md) | equal (max rel. diff 0) |" in page


def test_generated_pages_without_plots_or_conformance_cover_every_loss():
    files = docgen.generated_pages(plots=False, conformance=False)
    expected = {f"losses/{loss.name}.md" for loss in lk.catalog()} | {"catalog.md", "advisor.md"}
    assert set(files) == expected


def test_module_command_writes_the_pages(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "losskit.docgen", "--out", str(tmp_path), "--no-plots", "--no-conformance"],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    written = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.md")}
    assert {"catalog.md", "advisor.md", "losses/huber.md"} <= written
    assert len([p for p in written if p.startswith("losses/")]) == len(lk.catalog())


def test_module_command_refreshes_only_the_readme_when_asked(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"{docgen.README_START}\n{docgen.README_END}\n")
    result = subprocess.run([sys.executable, "-m", "losskit.docgen", "--readme", str(readme)],
                            cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert docgen.readme_is_current(readme)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.md"]  # no pages written


# ----------------------------------------------------------------------------------- README

def test_readme_table_has_a_row_per_loss_with_its_aliases():
    lines = docgen.readme_catalog_table().splitlines()
    assert lines[0] == "| name | aliases | task | prediction space | label format | convex | robust to outliers |"
    assert len(lines) == 2 + len(lk.catalog())
    assert "| `mean_squared_error` | `mse`, `l2` | regression |" in lines[2]


def test_update_readme_replaces_only_the_text_between_the_markers(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"# title\n\n{docgen.README_START}\nstale\n{docgen.README_END}\n\nafter\n")
    assert docgen.update_readme(readme) is True
    text = readme.read_text()
    assert text.startswith(f"# title\n\n{docgen.README_START}\n| name |")
    assert text.endswith(f"{docgen.README_END}\n\nafter\n")
    assert "stale" not in text
    assert docgen.readme_is_current(readme) is True


def test_update_readme_is_idempotent(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"{docgen.README_START}\n{docgen.README_END}\n")
    docgen.update_readme(readme)
    before = readme.read_text()
    assert docgen.update_readme(readme) is False
    assert readme.read_text() == before


def test_update_readme_without_markers_names_the_file_and_the_markers(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# no markers\n")
    with pytest.raises(ValueError, match=r"README\.md must contain <!-- catalog-table:start -->"):
        docgen.update_readme(readme)


def test_repository_readme_catalog_table_is_up_to_date():
    readme = REPO / "README.md"
    if not readme.exists() or docgen.readme_is_current(readme) is None:
        pytest.skip("README.md has no catalog-table markers")
    assert docgen.readme_is_current(readme), "run: python -m losskit.docgen --readme README.md"


# ------------------------------------------------------------------------- hand-written pages

def _python_blocks(page: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", (REPO / "docs" / page).read_text(), flags=re.S)


@pytest.mark.parametrize("page", ["getting-started.md", "reductions.md", "lab.md", "training-loops.md", "backends.md"])
def test_code_examples_of_the_hand_written_pages_run(page):
    blocks = _python_blocks(page)
    assert blocks
    for block in blocks:
        if "(y_true, y_pred, *, <parameters>" in block:  # the signature, not a program
            continue
        exec(compile(block, f"docs/{page}", "exec"), {})


def test_huber_gradient_descent_example_recovers_the_weights(capsys):
    block = next(b for b in _python_blocks("getting-started.md") if "value_and_grad" in b)
    exec(compile(block, "docs/getting-started.md", "exec"), {})
    assert capsys.readouterr().out.strip().splitlines()[-1] == "[ 1.99 -1.02  0.5 ]"


# ------------------------------------------------------------------------------- the build

@pytest.fixture(scope="module")
def built_site(tmp_path_factory):
    """One ``mkdocs build --strict`` per test session (it takes a minute or more), shared by the
    pytest-xdist workers through their common temporary folder and a lock."""
    import fcntl
    import json

    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # this session's folder, above each worker's own
    site, outcome = root / "docs-site", root / "docs-site.json"
    with open(root / "docs-site.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not outcome.exists():
            result = subprocess.run(
                [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
                cwd=REPO, capture_output=True, text=True, timeout=900,
            )
            outcome.write_text(json.dumps({"returncode": result.returncode,
                                           "output": result.stdout[-3000:] + result.stderr[-3000:]}))
    built = json.loads(outcome.read_text())
    assert built["returncode"] == 0, built["output"]
    return site


def test_mkdocs_build_strict_succeeds(built_site):
    site = built_site
    huber = (site / "losses" / "huber" / "index.html").read_text()
    assert 'class="arithmatex"' in huber and "huber.svg" in huber
    assert (site / "losses" / "huber.svg").stat().st_size > 10_000
    assert "equal (max rel. diff" in (site / "conformance" / "index.html").read_text()
    for page in ("catalog", "advisor", "getting-started", "reductions"):
        assert (site / page / "index.html").exists()


# ------------------------------------------------------------------------------------ the math

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def _math_hook():
    import importlib.util

    pytest.importorskip("latex2mathml", reason="latex2mathml (the docs extra) is not installed")
    spec = importlib.util.spec_from_file_location("typeset_math", REPO / "docs" / "hooks" / "typeset_math.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("loss", lk.catalog(), ids=lambda loss: loss.name)
def test_every_formula_typesets_to_mathml_at_build_time(loss):
    hook = _math_hook()
    for latex in (loss.formula, loss.gradient_formula):
        mathml = hook.latex_to_mathml(latex)  # raises on a command left untranslated
        assert mathml.startswith("<math ") and 'display="block"' in mathml and mathml.endswith("</math>")


def test_the_hook_replaces_the_latex_of_a_page():
    hook = _math_hook()
    page = '<p>x</p><div class="arithmatex">\\[\n\\ell = |e| &lt; \\delta\n\\]</div><span class="arithmatex">\\(a^2\\)</span>'
    typeset = hook.typeset(page)
    assert typeset.count("<math ") == 2 and "\\[" not in typeset and "\\(" not in typeset
    assert "&#x02264;" not in typeset and "&#x0003C;" in typeset  # the escaped < read as <, not as text


def test_the_site_loads_no_math_script_from_the_network():
    config = (REPO / "mkdocs.yml").read_text()
    assert "typeset_math.py" in config
    assert not re.search(r"https?://", config.split("extra_javascript", 1)[-1] if "extra_javascript" in config else "")
    assert "mathjax" not in config.lower() and "unpkg" not in config


def test_built_pages_have_mathml_and_no_math_script(built_site):
    huber = (built_site / "losses" / "huber" / "index.html").read_text()
    assert huber.count("<math ") == 2 and "\\[" not in huber
    for page in built_site.rglob("*.html"):
        text = page.read_text()
        assert "mathjax" not in text.lower() and "katex" not in text.lower(), page


@pytest.mark.parametrize("name", ["huber", "tweedie_deviance", "info_nce", "modified_huber"])
def test_a_built_loss_page_shows_typeset_math_offline_in_a_browser(built_site, name):
    if not CHROMIUM.exists():
        pytest.skip(f"no browser executable at {CHROMIUM}: apt-get install -y chromium")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            # Offline: every request that is not a file of the built site fails.
            page.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file:")
                       else route.abort())
            page.goto((built_site / "losses" / name / "index.html").as_uri())
            page.wait_for_load_state("load")
            boxes = page.evaluate("""() => Array.from(document.querySelectorAll('.arithmatex math')).map(m => {
                const box = m.getBoundingClientRect();
                return {width: box.width, height: box.height, display: m.getAttribute('display'),
                        layout: getComputedStyle(m).display}; })""")
            fractions = page.evaluate("() => document.querySelectorAll('.arithmatex mfrac, .arithmatex msup').length")
            text = page.evaluate("() => document.body.innerText")
        finally:
            browser.close()
    assert len(boxes) == 2  # the formula and the gradient
    for box in boxes:
        assert box["display"] == "block" and box["layout"] in ("block math", "block")
        assert box["width"] > 50 and box["height"] > 10
    assert fractions > 0  # scripts and fractions laid out as MathML, not as text
    for raw in ("\\[", "\\]", "\\ell", "\\frac", "\\begin", "\\hat"):
        assert raw not in text, raw
