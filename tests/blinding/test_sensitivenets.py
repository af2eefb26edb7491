"""SensitiveNets internals: the folded, centred map, the compact isometry, the triplet loss."""

from __future__ import annotations

import numpy as np
import torch

from blindface.blinding import SensitiveNets
from blindface.blinding._base import fold
from blindface.blinding.methods._sensitivenets import compact_linear
from blindface.blinding.nn._losses import semihard_triplet_loss


def test_folded_network_is_the_network(fitted, tiny_data):
    model = fitted["SensitiveNets"]
    weight, bias = fold(model.coefs_, model.intercepts_)
    assert weight.shape == (16, 8)
    with torch.no_grad():
        net = torch.nn.Sequential(*(torch.nn.Linear(w.shape[1], w.shape[0]) for w in model.coefs_))
        for layer, w, b in zip(net, model.coefs_, model.intercepts_, strict=True):
            layer.weight.copy_(torch.from_numpy(w))
            layer.bias.copy_(torch.from_numpy(b))
        expected = net(torch.from_numpy(tiny_data.X)).numpy()
    np.testing.assert_allclose(tiny_data.X @ weight.T + bias, expected, atol=1e-5)
    np.testing.assert_allclose(model.forward_network(tiny_data.X), expected, atol=1e-5)


def test_output_is_centred_unit_and_blind_to_the_class_means(fitted, tiny_data):
    """transform = normalise(compact(W (I - QQ^T) (x - mean_))): no constant offset left."""
    model = fitted["SensitiveNets"]
    Z = model.transform(tiny_data.X).astype(np.float64)
    assert Z.shape[1] == 8  # d_in coordinates instead of 16
    np.testing.assert_allclose(np.linalg.norm(Z, axis=1), 1.0, atol=1e-5)
    raw = tiny_data.X @ model.weight_.T + model.bias_
    np.testing.assert_allclose(model.mean_ @ model.weight_.T + model.bias_, 0, atol=1e-5)
    rows = tiny_data.is_emotion_row
    labels = tiny_data.expression[rows]
    means = np.array([raw[rows][labels == c].mean(axis=0) for c in np.unique(labels)])
    np.testing.assert_allclose(means - raw[rows].mean(axis=0), 0, atol=1e-4)


def test_compact_linear_is_an_isometry():
    rng = np.random.default_rng(0)
    weight = rng.standard_normal((50, 6))
    compact = compact_linear(weight)
    assert compact.shape == (6, 6)
    V = rng.standard_normal((20, 6))
    np.testing.assert_allclose(
        (V @ compact.T) @ (V @ compact.T).T, (V @ weight.T) @ (V @ weight.T).T
    )
    np.testing.assert_allclose(compact, compact.T, atol=1e-12)  # axes along the input's
    square = rng.standard_normal((6, 6))
    assert compact_linear(square) is square  # nothing to gain: unchanged


def test_full_output_when_not_compact(tiny_data):
    model = SensitiveNets(
        hidden_layer_sizes=(16,), max_iter=1, classifier_epochs=2, compact=False, random_state=0
    ).fit(tiny_data.X, expression=tiny_data.expression, subject=tiny_data.subject)
    assert model.transform(tiny_data.X).shape[1] == 16


def test_history_records_rounds(fitted):
    model = fitted["SensitiveNets"]
    assert model.history_[0]["iteration"] == 0 and "triplet_loss" not in model.history_[0]
    assert {"triplet_loss", "neutral_loss", "emotion_val_accuracy"} <= set(model.history_[1])
    assert 1 <= model.best_iter_ <= len(model.history_) - 1 == model.n_iter_


def test_semihard_triplet_loss_by_hand():
    # two subjects on a line: anchor 0, positive at 0.1, negatives at 0.3 and 2.0
    z = torch.tensor([[0.0], [0.1], [0.3], [2.0]])
    labels = torch.tensor([0, 0, 1, 1])
    loss = semihard_triplet_loss(z, labels, margin=0.2)
    # pairs (0,1): d_ap=.01, semi-hard negative 2 (d=.09): .01-.09+.2=.12
    #       (1,0): d_ap=.01, closest farther negative 2 (d=.04): .01-.04+.2=.17
    #       (2,3): d_ap=2.89, no negative farther: farthest is 0 (d=.09): 2.89-.09+.2=3.0
    #       (3,2): d_ap=2.89, farther negative: none (3.61 > 2.89: subject 0 at 0 -> 4.0): 0
    expected = (0.12 + 0.17 + 3.0 + max(0.0, 2.89 - 4.0 + 0.2)) / 4
    assert abs(float(loss) - expected) < 1e-5


def test_isometric_initialisation_keeps_distances(tiny_data):
    from blindface.blinding.nn._layers import isometric_network

    torch.manual_seed(0)
    net = isometric_network((8, 32, 32)).double()
    X = torch.from_numpy(tiny_data.X).double()
    with torch.no_grad():
        Z = net(X)
    np.testing.assert_allclose(torch.cdist(Z, Z).numpy(), torch.cdist(X, X).numpy(), atol=1e-6)
