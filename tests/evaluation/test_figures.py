"""Feature-suppression curves and figures on synthetic embeddings."""

from __future__ import annotations

import numpy as np
import pytest

from blindface.evaluation import (
    feature_suppression_curve,
    plot_suppression_curves,
    plot_tradeoff,
    plot_tsne,
    summarise_suppression,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _drawn(path, *, min_colours: int = 4):
    """The PNG decoded: a real, non-blank picture with at least ``min_colours`` colours."""
    from PIL import Image

    assert path.read_bytes()[:8] == PNG_MAGIC
    with Image.open(path) as image:
        pixels = np.asarray(image.convert("RGB"))
    colours = np.unique(pixels.reshape(-1, 3), axis=0)
    assert len(colours) >= min_colours, f"{path.name} looks blank ({len(colours)} colours)"
    return pixels


def _embeddings(n: int = 240, d: int = 20, seed: int = 0):
    """Labels spread over all features (plain) and over two features only (concentrated)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    groups = rng.integers(0, 24, n)
    spread = rng.normal(size=(n, d)) + 0.6 * rng.normal(size=(3, d))[y]
    concentrated = rng.normal(size=(n, d))
    concentrated[:, :2] += 3.0 * np.array([[0, 0], [1, 0], [0, 1]])[y]
    return spread, concentrated, y, groups


def test_suppression_curve_known_shapes():
    spread, concentrated, y, groups = _embeddings()
    kw = {"fractions": (0.0, 0.5, 0.9), "n_draws": 4, "probe": "logreg", "random_state": 0}
    curve = feature_suppression_curve(spread, y, groups, **kw)
    assert list(curve.columns) == [
        "fraction",
        "draw",
        "n_features",
        "accuracy",
        "chance",
        "balanced_accuracy",
        "balanced_chance",
    ]
    assert len(curve) == 12
    assert set(curve.loc[curve["fraction"] == 0.9, "n_features"]) == {2}
    summary = summarise_suppression(curve).set_index("fraction")
    assert summary.loc[0.0, "std"] == pytest.approx(0.0)  # nothing removed: every draw equal
    assert summary.loc[0.0, "mean"] > 80.0
    assert summary.loc[0.9, "mean"] < summary.loc[0.0, "mean"] - 20.0
    # Concentrated information: draws that keep a label feature differ from those that don't.
    lumpy = summarise_suppression(feature_suppression_curve(concentrated, y, groups, **kw))
    assert lumpy.set_index("fraction").loc[0.5, "std"] > 2 * summary.loc[0.5, "std"]


def test_figures_are_written(tmp_path):
    spread, concentrated, y, groups = _embeddings(n=120)
    labels = np.array(["happy", "sad", "angry"])[y]
    embeddings = {"before": spread, "after": concentrated}
    out = plot_tsne(embeddings, labels, tmp_path / "a" / "t.png", max_points=80, max_iter=250)
    assert out == tmp_path / "a" / "t.png"
    two_panels = _drawn(out)
    one = plot_tsne({"x": spread}, labels, tmp_path / "one.png", max_points=80, max_iter=250)
    one_panel = _drawn(one)
    assert two_panels.shape[1] > 1.6 * one_panel.shape[1]  # one panel per representation
    # the three classes are drawn in three colours
    tab10 = np.array([[31, 119, 180], [255, 127, 14], [44, 160, 44]])
    for colour in tab10:
        assert (np.abs(two_panels.astype(int) - colour).sum(axis=2) < 30).sum() > 20
    curve = feature_suppression_curve(
        spread, y, groups, fractions=(0.0, 0.5), n_draws=2, probe="knn"
    )
    out = plot_suppression_curves({"sface": curve}, tmp_path / "s.png", chance=40.0)
    _drawn(out)
    points = [
        {"method": "none", "leakage": 90.0, "utility": 98.0},
        {"method": "LEACE", "leakage": 60.0, "utility": 97.0, "leakage_std": 2.0},
        {"method": "LEACE", "leakage": 40.0, "utility": 95.0, "leakage_std": 3.0},
    ]
    out = plot_tradeoff(points, tmp_path / "tradeoff.png", chance=35.0)
    _drawn(out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "one.png", "s.png", "tradeoff.png"]


def test_figure_inputs_are_checked(tmp_path):
    with pytest.raises(ValueError, match="one row per label"):
        plot_tsne({"x": np.zeros((5, 3))}, ["a"] * 4, tmp_path / "t.png")
    with pytest.raises(ValueError, match="lack columns"):
        plot_tradeoff([{"method": "m", "leakage": 1.0}], tmp_path / "p.png")
