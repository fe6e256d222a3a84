"""lk.plot: curves, gradients, labels and saved files (matplotlib, Agg, no pyplot)."""

import xml.etree.ElementTree as ET

import numpy as np
import pytest

import losskit as lk

pytest.importorskip("matplotlib")


def _labels(figure, axis=0):
    return [line.get_label() for line in figure.axes[axis].lines]


def _legend_texts(figure):
    return [text.get_text() for text in figure.axes[0].get_legend().get_texts()]


def test_each_loss_draws_one_line_per_panel_with_labels_title_and_legend():
    figure = lk.plot("huber", "mse", "mae")
    loss_axis, grad_axis = figure.axes
    assert len(loss_axis.lines) == len(grad_axis.lines) == 3
    assert _legend_texts(figure) == ["huber", "mean_squared_error", "mean_absolute_error"]
    assert "residual" in loss_axis.get_xlabel() and "residual" in grad_axis.get_xlabel()
    assert "loss" in loss_axis.get_ylabel() and "gradient" in grad_axis.get_ylabel()
    assert "huber" in figure.get_suptitle()


def test_a_list_of_parameter_values_draws_one_labelled_curve_per_value():
    figure = lk.plot("huber", params={"huber": {"delta": [0.5, 1, 2]}})
    assert _legend_texts(figure) == ["huber (delta=0.5)", "huber (delta=1)", "huber (delta=2)"]
    assert len(figure.axes[1].lines) == 3


def test_loss_objects_with_bound_params_are_labelled_with_their_values():
    figure = lk.plot(lk.huber.with_params(delta=0.5), lk.huber.with_params(delta=2.0))
    assert _labels(figure) == ["huber (delta=0.5)", "huber (delta=2)"]


def test_huber_gradient_is_clipped_at_delta():
    figure = lk.plot("huber", params={"huber": {"delta": 0.5}}, x_range=(-3, 3))
    gradient = figure.axes[1].lines[0].get_ydata()
    assert gradient.min() == pytest.approx(-0.5) and gradient.max() == pytest.approx(0.5)


@pytest.mark.parametrize("loss", lk.catalog(), ids=lambda loss: loss.name)
def test_plotted_gradient_is_the_derivative_of_the_plotted_loss(loss):
    figure = lk.plot(loss, x_range=(-3, 3), num_points=1201)
    x, values = figure.axes[0].lines[0].get_data()
    gradient = figure.axes[1].lines[0].get_ydata()
    numeric = np.gradient(values, x)
    defined = np.isfinite(values) & np.isfinite(gradient) & np.isfinite(numeric)
    close = np.abs(numeric - gradient) <= 1e-2 * (1.0 + np.abs(gradient))
    # Kinks (hinge at 1, MAE at 0) make a handful of central differences disagree; nothing else may.
    assert defined.sum() > 100
    assert close[defined].mean() > 0.98


def test_binary_losses_on_probabilities_share_the_logit_axis():
    figure = lk.plot("binary_cross_entropy", "sigmoid_cross_entropy")
    (bce, bce_grad), (logits, logits_grad) = (
        (figure.axes[0].lines[i].get_ydata(), figure.axes[1].lines[i].get_ydata()) for i in range(2)
    )
    np.testing.assert_allclose(bce, logits, rtol=1e-9)
    np.testing.assert_allclose(bce_grad, logits_grad, rtol=1e-6, atol=1e-12)
    assert "sigma" in figure.axes[0].get_xlabel()  # the axis label says probabilities are sigmoid(z)


def test_multiclass_losses_are_drawn_against_the_two_class_margin():
    figure = lk.plot("categorical_cross_entropy", "sparse_softmax_cross_entropy", x_range=(-2, 2), num_points=5)
    expected = np.log1p(np.exp(-np.linspace(-2, 2, 5)))  # softmax cross-entropy = softplus(-margin)
    for line in figure.axes[0].lines:
        np.testing.assert_allclose(line.get_ydata(), expected, rtol=1e-9)
    assert "margin" in figure.axes[0].get_xlabel()


def test_points_outside_a_loss_domain_are_left_out_and_the_target_is_named():
    figure = lk.plot("poisson", x_range=(-4, 4))
    values = figure.axes[0].lines[0].get_ydata()
    x = figure.axes[0].lines[0].get_xdata()
    assert np.all(np.isnan(values[x < -1])) and np.all(np.isfinite(values[x > -1]))
    assert _labels(figure) == ["poisson (y=1)"]


def test_plot_never_registers_a_pyplot_figure():
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    lk.plot("mse")
    assert plt.get_fignums() == before


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: lk.plot("huber", "hinge"), "different tasks"),
        (lambda: lk.plot("huber", x_range=(2, -2)), "low < high"),
        (lambda: lk.plot("huber", x_range=("a", 1)), "two numbers"),
        (lambda: lk.plot("huber", params={"huber": {"dleta": 1}}), "no parameter 'dleta'"),
        (lambda: lk.plot("huber", params={"huber": {"delta": -1}}), "delta must be"),
        (lambda: lk.plot("huber", params={"mse": {}}), "not among the losses"),
        (lambda: lk.plot(), "at least one loss"),
        (lambda: lk.plot("hubr"), "did you mean"),
    ],
    ids=["mixed-tasks", "reversed-range", "text-range", "unknown-param", "invalid-value", "unplotted-params",
         "nothing", "unknown-loss"],
)
def test_bad_arguments_raise_value_error_naming_the_problem(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_png_is_an_image_of_sensible_size(tmp_path):
    import matplotlib.image

    path = tmp_path / "losses.png"
    lk.plot("huber", "mse").savefig(path, dpi=100)
    height, width = matplotlib.image.imread(path).shape[:2]
    assert 800 <= width <= 2000 and 300 <= height <= 1000


def test_svg_parses_as_xml_and_names_every_curve(tmp_path):
    path = tmp_path / "losses.svg"
    lk.plot("hinge", "logistic").savefig(path)
    root = ET.parse(path).getroot()
    assert root.tag.endswith("svg")
    text = path.read_text()
    assert "hinge" in text and "logistic" in text


def test_pdf_starts_with_the_pdf_magic(tmp_path):
    path = tmp_path / "losses.pdf"
    lk.plot("mse").savefig(path)
    assert path.read_bytes().startswith(b"%PDF")
