"""The procedural dSprites grid: its factor order, the geometry of its drawings, and its cache."""

import itertools
import logging
import subprocess
import sys

import numpy as np
import pytest

from keras_vae.core.errors import UserError
from keras_vae.data import dsprites as d

SQUARE, ELLIPSE, HEART = 0, 1, 2


def grid_index(shape=0, scale=0, orientation=0, x=0, y=0):
    """The grid index counted by hand: position_y fastest, then position_x, orientation, scale, shape."""
    return (((shape * 6 + scale) * 40 + orientation) * 32 + x) * 32 + y


def draw(*combinations):
    """Images (float64 [n, 64, 64] in {0, 1}) of (shape, scale, orientation, x, y) tuples."""
    factors = np.array([(0, *c) for c in combinations])
    return d.render(factors).astype(np.float64) / 255


def moments(images):
    """Area (px), centroid (column, row) of pixel centres, and complex central moments of orders 2 and 4
    (z = x + i y with y up) of each image."""
    rows, columns = np.mgrid[0:64, 0:64] + 0.5
    area = images.sum(axis=(1, 2))
    cx = (images * columns).sum(axis=(1, 2)) / area
    cy = (images * rows).sum(axis=(1, 2)) / area
    z = (columns - cx[:, None, None]) - 1j * (rows - cy[:, None, None])
    return area, cx, cy, (images * z**2).sum(axis=(1, 2)), (images * z**4).sum(axis=(1, 2))


def angle_gap(a, b, period):
    """The distance between angles a and b modulo `period`, in [0, period / 2]."""
    gap = np.mod(np.asarray(a) - np.asarray(b), period)
    return np.minimum(gap, period - gap)


def r_squared(x, y):
    slope, intercept = np.polyfit(x, y, 1)
    residual = y - (slope * x + intercept)
    return slope, 1 - residual.var() / y.var()


def test_the_grid_holds_every_combination_once_in_the_originals_order():
    assert d.FACTOR_SIZES == (1, 3, 6, 40, 32, 32) and d.N_IMAGES == 737_280
    assert d.FACTOR_NAMES == ("color", "shape", "scale", "orientation", "position_x", "position_y")
    every = np.arange(737_280)
    factors = d.factors_of(every)
    # itertools.product varies its last argument fastest, as the original's latents_classes do.
    expected = np.array(list(itertools.product(*(range(n) for n in d.FACTOR_SIZES))))
    np.testing.assert_array_equal(factors, expected)
    np.testing.assert_array_equal(d.index_of(factors), every)
    assert d.factors_of(1).tolist() == [0, 0, 0, 0, 0, 1]  # position_y fastest
    assert d.factors_of(32).tolist() == [0, 0, 0, 0, 1, 0]
    assert d.factors_of(737_279).tolist() == [0, 2, 5, 39, 31, 31]
    assert d.index_of([0, 2, 3, 17, 5, 9]) == grid_index(2, 3, 17, 5, 9)
    # Vectorized over any leading shape.
    some = np.array([[3, 70_000], [123_456, 737_279]])
    np.testing.assert_array_equal(d.index_of(d.factors_of(some)), some)


def test_factor_values_are_the_originals_grids():
    color, shape, scale, orientation, x, y = d.factor_values()
    assert color.tolist() == [1.0] and shape.tolist() == [1.0, 2.0, 3.0]
    np.testing.assert_allclose(scale, [0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
    assert len(orientation) == 40 and orientation[0] == 0 and orientation[-1] < 2 * np.pi
    np.testing.assert_allclose(np.diff(orientation), 2 * np.pi / 40)
    np.testing.assert_allclose(x, np.arange(32) / 31)
    np.testing.assert_allclose(y, np.arange(32) / 31)
    values = d.load(limit=50).factor_values
    assert values.dtype == np.float32 and values.shape == (50, 6)
    row = d.values_of([0, 1, 5, 10, 31, 0])
    np.testing.assert_allclose(row, [1.0, 2.0, 1.0, np.pi / 2, 1.0, 0.0], rtol=1e-6)


def test_images_are_binary_uint8():
    indices = np.random.default_rng(3).integers(0, d.N_IMAGES, 300)
    images = d.render(d.factors_of(indices))
    assert images.dtype == np.uint8 and images.shape == (300, 64, 64)
    assert set(np.unique(images).tolist()) == {0, 255}
    assert (images.reshape(300, -1).max(axis=1) == 255).all()  # no image is empty
    assert d.render([0, 0, 0, 0, 0, 0]).shape == (1, 64, 64)


@pytest.mark.parametrize("shape", [SQUARE, ELLIPSE, HEART])
@pytest.mark.parametrize("axis", ["x", "y"])
def test_position_moves_the_centroid_linearly(shape, axis):
    steps = np.arange(32)
    if axis == "x":
        images = draw(*[(shape, 4, 7, step, 10) for step in steps])
    else:
        images = draw(*[(shape, 4, 7, 20, step) for step in steps])
    _, cx, cy, _, _ = moments(images)
    moving, fixed = (cx, cy) if axis == "x" else (cy, cx)
    slope, fit = r_squared(steps / 31, moving)
    assert fit > 0.99 and slope > 0
    # Centres run from RADIUS to 64 - RADIUS: 48 px across the grid; the other coordinate stays put.
    assert abs(slope - 48) < 48 * 0.05
    assert np.ptp(fixed) < 0.5


@pytest.mark.parametrize("shape", [SQUARE, ELLIPSE])
def test_symmetric_shapes_rotate_about_their_centre_at_the_position(shape):
    images = draw(*[(shape, 5, orientation, 9, 22) for orientation in range(40)])
    _, cx, cy, _, _ = moments(images)
    # Pixel j spans [j, j + 1): the centre of position 9/31 (x) and 22/31 (y) lies at 8 + 48 * p.
    # Each drawing is off by pixel quantization alone; over the 40 orientations that averages out.
    for centroid, centre in ((cx, 8 + 48 * 9 / 31), (cy, 8 + 48 * 22 / 31)):
        np.testing.assert_allclose(centroid, centre, atol=0.5)
        assert abs(centroid.mean() - centre) < 0.15


@pytest.mark.parametrize("shape", [SQUARE, ELLIPSE, HEART])
def test_area_grows_with_the_square_of_the_scale(shape):
    positions = list(itertools.product(range(0, 32, 3), range(1, 32, 3)))
    areas = []
    for scale in range(6):
        images = draw(*[(shape, scale, orientation, x, y) for x, y in positions for orientation in (0, 3, 11)])
        areas.append(images.sum(axis=(1, 2)).mean())
    areas = np.array(areas)
    assert 3.6 < areas[-1] / areas[0] < 4.4  # scale 1 against scale 0.5
    assert (np.diff(areas) > 0).all()
    scales = d.factor_values()[2]
    slope, fit = r_squared(scales**2, areas)
    assert fit > 0.99 and slope > 0


def test_the_three_shapes_cover_different_areas_at_a_fixed_scale():
    positions = list(itertools.product(range(0, 32, 5), range(2, 32, 5)))
    areas = []
    for shape in (SQUARE, ELLIPSE, HEART):
        images = draw(*[(shape, 3, orientation, x, y) for x, y in positions for orientation in (0, 13, 26)])
        areas.append(images.sum(axis=(1, 2)).mean())
    for a, b in itertools.combinations(areas, 2):
        assert abs(a - b) > 0.1 * max(a, b), areas


def test_orientation_turns_the_ellipses_principal_axis():
    orientations = d.factor_values()[3]
    images = draw(*[(ELLIPSE, 5, k, 16, 16) for k in range(40)])
    _, _, _, second, _ = moments(images)
    principal = np.angle(second) / 2  # the major axis lies along x at orientation 0
    # Counter-clockwise as displayed; an ellipse looks the same turned by pi.
    assert angle_gap(principal, orientations, np.pi).max() < np.radians(3)
    # A turn of pi/2 swaps the axes: the axis is not merely constant.
    assert angle_gap(principal[10], principal[0], np.pi) > np.radians(80)


def test_orientation_turns_the_squares_fourth_moment():
    orientations = d.factor_values()[3]
    images = draw(*[(SQUARE, 5, k, 16, 16) for k in range(40)])
    area, cx, cy, second, fourth = moments(images)
    rows, columns = np.mgrid[0:64, 0:64] + 0.5
    spread = (images * ((columns - cx[:, None, None]) ** 2 + (rows - cy[:, None, None]) ** 2)).sum(axis=(1, 2))
    # A square's second moments are isotropic (mu20 = mu02, mu11 = 0) up to pixel quantization: no
    # principal axis to follow.
    assert (np.abs(second) < 0.08 * spread).all()
    # Its fourth moment sum r^4 e^{4i phi} has phase pi when the sides lie along the axes (the corners,
    # at 45 degrees, dominate); a square looks the same turned by pi/2.
    turned = (np.angle(fourth) - np.pi) / 4
    assert angle_gap(turned, orientations, np.pi / 2).max() < np.radians(3)


def test_no_sprite_is_clipped_at_the_edges():
    for shape in (SQUARE, ELLIPSE, HEART):
        centre = draw(*[(shape, 5, k, 16, 16) for k in range(40)]).sum(axis=(1, 2))
        for x, y in ((0, 0), (31, 31), (0, 31), (31, 0)):
            corner = draw(*[(shape, 5, k, x, y) for k in range(40)]).sum(axis=(1, 2))
            assert abs(corner.mean() - centre.mean()) < 0.05 * centre.mean()


def test_bad_factors_and_indices_are_user_errors():
    with pytest.raises(UserError, match="orientation"):
        d.render([[0, 0, 0, 40, 0, 0]])
    with pytest.raises(UserError, match="last axis"):
        d.index_of([0, 0, 0])
    with pytest.raises(UserError, match="integers"):
        d.factors_of([1.5])
    with pytest.raises(UserError, match=r"\[0, 737280\)"):
        d.factors_of([737_280])
    with pytest.raises(UserError, match=r"\[0, 10\)"):
        d.subset(np.arange(10)).images([10])
    with pytest.raises(UserError, match="limit"):
        d.load(limit=0)


def test_limit_draws_a_sample_without_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_VAE_CACHE", str(tmp_path))
    sample = d.load(limit=200, seed=1)
    assert len(sample) == 200 and (np.diff(sample.indices) > 0).all()
    assert not list(tmp_path.iterdir())
    positions = np.array([5, 199, 0, 5])
    images = sample.images(positions)
    assert images.shape == (4, 64, 64, 1) and images.dtype == np.uint8
    np.testing.assert_array_equal(images[..., 0], d.render(d.factors_of(sample.indices[positions])))
    np.testing.assert_array_equal(sample.factors, d.factors_of(sample.indices))
    np.testing.assert_array_equal(d.load(limit=200, seed=1).indices, sample.indices)


@pytest.fixture
def small_grid(monkeypatch):
    """Make `load` cache 3,000 scattered grid images (unsorted) instead of all 737,280."""
    indices = np.random.default_rng(7).choice(d.N_IMAGES, 3000, replace=False)
    monkeypatch.setattr(d, "_all_indices", lambda: indices)
    return indices


def test_the_cache_gives_back_what_render_draws(tmp_path, monkeypatch, small_grid):
    monkeypatch.setenv("KERAS_VAE_CACHE", str(tmp_path / "env"))
    monkeypatch.setattr(d, "CHUNK", 700)  # several chunks, the last one partial
    built = []
    original = d.build_cache
    monkeypatch.setattr(d, "build_cache", lambda *a, **k: built.append(a) or original(*a, chunk=700))
    sprites = d.load()  # the default directory: $KERAS_VAE_CACHE
    path = tmp_path / "env" / d.CACHE_NAME
    assert isinstance(sprites, d.CachedSprites) and sprites.path == path and len(built) == 1
    assert path.stat().st_size == 4096 + 3000 * 512
    assert [p.name for p in path.parent.iterdir()] == [d.CACHE_NAME]  # no temporary file left
    assert len(sprites) == 3000
    positions = np.random.default_rng(0).integers(0, 3000, 400)  # unsorted, with repeats
    images = sprites.images(positions)
    assert images.shape == (400, 64, 64, 1) and images.dtype == np.uint8
    assert set(np.unique(images).tolist()) == {0, 255}
    np.testing.assert_array_equal(images[..., 0], d.render(d.factors_of(small_grid[positions])))
    np.testing.assert_array_equal(sprites.factors, d.factors_of(small_grid))
    assert sprites.factor_values.dtype == np.float32 and sprites.factor_values.shape == (3000, 6)
    # A second load reuses the file.
    again = d.load(tmp_path / "env")
    assert len(built) == 1
    np.testing.assert_array_equal(again.images(positions), images)


def test_images_of_factors_read_the_cache_of_the_whole_grid(tmp_path, monkeypatch):
    # A cache of the grid's first 3,000 images, taken for the whole grid: images_of then reads rows.
    monkeypatch.setattr(d, "N_IMAGES", 3000)
    monkeypatch.setattr(d, "_all_indices", lambda: np.arange(3000))
    sprites = d.load(tmp_path)
    assert sprites.whole_grid
    wanted = d.factors_of(np.array([2999, 0, 1234, 1234]))
    drawn = []
    monkeypatch.setattr(d, "render", lambda factors: drawn.append(factors) or 0)
    images = sprites.images_of(wanted)  # from the file: nothing is drawn
    assert drawn == [] and images.shape == (4, 64, 64, 1)
    np.testing.assert_array_equal(images, sprites.images([2999, 0, 1234, 1234]))


def corrupt_by_truncating(path):
    with open(path, "r+b") as file:
        file.truncate(path.stat().st_size - 512)


def corrupt_the_header(path):
    with open(path, "r+b") as file:
        file.write(b"garbage")


def corrupt_the_pixels(path):
    with open(path, "r+b") as file:
        file.seek(4096)
        file.write(bytes(3000 * 512))


def corrupt_the_version(path):
    head = path.read_bytes()[:4096].replace(b'"version": 1', b'"version": 0')
    with open(path, "r+b") as file:
        file.write(head)


@pytest.mark.parametrize(
    "corrupt", [corrupt_by_truncating, corrupt_the_header, corrupt_the_pixels, corrupt_the_version]
)
def test_an_unsound_cache_is_drawn_again_with_a_warning(tmp_path, small_grid, corrupt, caplog):
    first = d.load(tmp_path)
    positions = np.arange(0, 3000, 7)
    expected = first.images(positions)
    del first
    corrupt(tmp_path / d.CACHE_NAME)
    with caplog.at_level(logging.WARNING, logger=d.__name__):
        again = d.load(tmp_path)
    assert any("drawing it again" in record.getMessage() for record in caplog.records)
    np.testing.assert_array_equal(again.images(positions), expected)
    assert (tmp_path / d.CACHE_NAME).stat().st_size == 4096 + 3000 * 512


def test_importing_the_module_does_not_import_tensorflow():
    code = (
        "import sys, keras_vae.data.dsprites as d; d.render([[0, 2, 5, 3, 4, 5]]);"
        "loaded = [m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')"
        " or (m.startswith('keras_vae.') and not m.startswith(('keras_vae.core', 'keras_vae.data')))"
        " or m in ('keras_vae.data.datasets', 'keras_vae.data.sequences')];"
        "assert not loaded, loaded"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
