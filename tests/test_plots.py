"""`plot`: titled, pixel-exact PNG figures for 2-D and 16-D models and a denoising autoencoder."""

import contextlib
import io
from statistics import NormalDist

import matplotlib.image
import numpy as np
import pytest

from keras_vae.cli import main
from keras_vae.models import figures as image_figures
from keras_vae.models.vae import figures as vae_figures
from keras_vae.runner import loading, plots, runs, train

TINY = {"dataset": "mnist_5k", "filters": [4, 8], "hidden_dim": 16, "epochs": 1, "batch_size": 64}
TB, M = plots.TITLE_BAND, plots.MARGIN


def grid_side(tiles, pixels=28, scale=2):
    """Pixels along one side of a grid of `tiles` tiles with 1-pixel gaps, upscaled by `scale`."""
    return (tiles * (pixels + 1) - 1) * scale


def titled(rows, columns, scale=2):
    """The (height, width) of a titled grid of 28-pixel tiles."""
    return grid_side(rows, scale=scale) + TB + M, max(grid_side(columns, scale=scale) + 2 * M, plots.MIN_WIDTH)


def chart(panels, panel):
    """The (height, width) of a one-row chart of `panels` panels (three at most a row)."""
    return panel[1] + TB, panel[0] * panels


def test_quantile_grid_is_the_inverse_normal_cdf_of_evenly_spaced_probabilities():
    q = [NormalDist().inv_cdf(p) for p in np.linspace(0.05, 0.95, 7)]
    points = vae_figures.quantile_grid(7)
    assert points.shape == (49, 2)
    expected = [(q[c], q[6 - r]) for r in range(7) for c in range(7)]  # row-major, z2 falls down the rows
    np.testing.assert_allclose(points, expected, rtol=1e-5, atol=1e-6)


@pytest.fixture(
    scope="module",
    params=[("conv_vae", 2), ("conv_vae", 16), ("denoising_ae", 16)],
    ids=["vae_2d", "vae_16d", "denoising_16d"],
)
def plotted(request, tmp_path_factory):
    entry, latent_dim = request.param
    overrides = {**TINY, "latent_dim": latent_dim}
    if entry == "denoising_ae":
        overrides = {k: v for k, v in overrides.items() if k not in ("filters", "hidden_dim")}
    run_dir = tmp_path_factory.mktemp(entry) / "run"
    train.train(entry, overrides, run_dir=run_dir, seed=0, verbose=0, limit=256)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["plot", str(run_dir)]) == 0
    out = out.getvalue()
    pngs = {p.name: matplotlib.image.imread(p) for p in run_dir.glob("*.png")}
    assert out.count("wrote") == len(pngs) + len(list(run_dir.glob("*.gif")))
    return entry, latent_dim, run_dir, pngs


def test_every_figure_has_its_expected_pixel_size_and_a_title(plotted):
    entry, latent_dim, run_dir, pngs = plotted
    history = runs.read_json(run_dir / runs.HISTORY)[0]
    curves = [n for n in history if n not in ("epoch", "seconds", "learning_rate") and not n.startswith("val_")]
    assert len(curves) == (3 if entry == "conv_vae" else 2)  # loss, reconstruction (, kl)
    expected = {
        "reconstructions.png": titled(3 if entry == "denoising_ae" else 2, image_figures.SHOWN),
        "interpolation.png": titled(image_figures.PAIRS, image_figures.STEPS + 2),
        "training_curves.png": chart(len(curves), plots.PANEL),
        ("latent_scatter.png" if latent_dim == 2 else "latent_pca.png"): chart(1, plots.SCATTER),
    }
    if entry == "conv_vae":
        expected["prior_samples.png"] = titled(8, 8)
        expected["traversals.png"] = titled(latent_dim, vae_figures.TRAVERSAL_STEPS)
        if latent_dim == 2:
            expected["manifold.png"] = titled(vae_figures.MANIFOLD_SIDE, vae_figures.MANIFOLD_SIDE, scale=1)
    assert set(pngs) == set(expected)
    for name, image in pngs.items():
        assert image.shape[:2] == expected[name], name
        assert image[..., :3].std() > 0.05, name  # not blank
        assert image[:TB, :, :3].min() < 0.3, name  # dark title text in the band on top


def test_traversal_rows_sweep_one_dimension_each_in_order_of_kl(plotted):
    entry, latent_dim, run_dir, _ = plotted
    if entry != "conv_vae":
        pytest.skip("an autoencoder has no KL to order the rows by")
    from PIL import Image

    from keras_vae.data import datasets as data

    model = loading.load_run_model(run_dir)
    examples = {"images": data.mnist_5k().x_test}
    order, kl = vae_figures.kl_order(model, examples)
    mean, log_var = (
        np.asarray(t, np.float64)
        for t in model.encode(
            image_figures.subset(examples, image_figures.evenly_spaced(len(examples["images"]), vae_figures.KL_IMAGES))
        )
    )
    by_hand = 0.5 * (np.exp(log_var) + mean**2 - 1 - log_var).mean(axis=0)  # closed-form Gaussian KL
    np.testing.assert_allclose(kl, by_hand, rtol=1e-4, atol=1e-6)
    assert list(order) == list(np.argsort(-by_hand, kind="stable"))

    code = np.arange(latent_dim, dtype=np.float32) / 10
    z = vae_figures.traversal_codes(code, order)
    sweep = np.linspace(-2, 2, vae_figures.TRAVERSAL_STEPS)
    for row, dim in enumerate(order):
        np.testing.assert_allclose(z[row, :, dim], sweep, rtol=1e-6)
        np.testing.assert_array_equal(np.delete(z[row], dim, axis=1), np.delete(np.tile(code, (len(sweep), 1)), dim, 1))
    with Image.open(run_dir / "traversals.gif") as gif:
        assert gif.n_frames == 2 * vae_figures.TRAVERSAL_STEPS - 2  # there and back


def test_reconstructions_show_test_inputs_above_the_models_output(plotted):
    entry, _, run_dir, pngs = plotted
    from keras_vae.data import datasets as data

    model = loading.load_run_model(run_dir)
    x = data.mnist_5k().x_test[:1]  # the first tile shows the first test image
    image = pngs["reconstructions.png"][..., 0]
    tile = lambda row: image[TB + row * 58 : TB + row * 58 + 56, M : M + 56]  # noqa: E731
    clean_row, output_row = (1, 2) if entry == "denoising_ae" else (0, 1)
    np.testing.assert_allclose(tile(clean_row), x[0, ..., 0].repeat(2, 0).repeat(2, 1), atol=1.5 / 255)
    if entry != "denoising_ae":  # the denoising output depends on the corruption drawn
        output = model.decode(model.code(x)).numpy()[0, ..., 0]
        np.testing.assert_allclose(tile(output_row), output.repeat(2, 0).repeat(2, 1), atol=1.5 / 255)


def test_manifold_corners_decode_the_extreme_quantiles(plotted):
    _, latent_dim, run_dir, pngs = plotted
    if latent_dim != 2:  # the manifold is drawn for 2-D latent spaces only
        assert "manifold.png" not in pngs
        return
    model = loading.load_run_model(run_dir)
    lo, hi = NormalDist().inv_cdf(0.05), NormalDist().inv_cdf(0.95)
    image, side = pngs["manifold.png"][..., 0], vae_figures.MANIFOLD_SIDE
    left = (image.shape[1] - grid_side(side, scale=1)) // 2
    top_left = image[TB : TB + 28, left : left + 28]
    bottom_right = image[TB + (side - 1) * 29 : TB + side * 29 - 1, left + (side - 1) * 29 : left + side * 29 - 1]
    corners = model.decode(np.array([[lo, hi], [hi, lo]], np.float32)).numpy()[..., 0]
    np.testing.assert_allclose(top_left, corners[0], atol=1.5 / 255)
    np.testing.assert_allclose(bottom_right, corners[1], atol=1.5 / 255)


def test_training_curves_label_each_y_axis_with_its_units(tmp_path, monkeypatch):
    """Each panel's y axis says the units the model declares for its term (nats per example)."""
    from keras_vae.core.contract import NATS, Term
    from keras_vae.runner import figures
    from keras_vae.runner.config import RunConfig

    labels = []
    real_chart = plots._chart

    def chart(*args, **kwargs):
        fig, axes = real_chart(*args, **kwargs)
        labels.append(axes)
        return fig, axes

    monkeypatch.setattr(plots, "_chart", chart)
    history = [{"epoch": 1, "loss": 3.0, "kl": 1.0, "val_loss": 3.5}, {"epoch": 2, "loss": 2.0, "kl": 1.2}]
    docs = {"loss": Term(NATS, "the objective"), "kl": Term(NATS, "KL(q || p)")}
    config = RunConfig.from_json({"entry": "conv_vae", "class": "ConvVAE", "params": {}, "dataset": "mnist_5k"})
    figures.training_curves(history, ("loss", "kl"), config, tmp_path / "curves.png", docs)
    assert [ax.get_ylabel() for ax in labels[0]] == [NATS, NATS]
    assert (tmp_path / "curves.png").is_file()
