"""Alignment geometry: the similarity transform, template placement, face choice, padding."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from blindface.faces._geometry import (
    ARCFACE_TEMPLATE,
    Face,
    choose_face,
    is_crop_like,
    pad_and_upscale,
    similarity_transform,
    template_landmarks,
)


def _apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ matrix[:, :2].T + matrix[:, 2]


@settings(max_examples=50, deadline=None)
@given(
    scale=st.floats(0.2, 5.0),
    angle=st.floats(-np.pi, np.pi),
    tx=st.floats(-300, 300),
    ty=st.floats(-300, 300),
)
def test_similarity_transform_recovers_a_known_transform(scale, angle, tx, ty):
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    truth = np.hstack([scale * rotation, [[tx], [ty]]])
    src = ARCFACE_TEMPLATE * 1.7 + 5.0
    dst = _apply(truth, src)
    estimate = similarity_transform(src, dst)
    np.testing.assert_allclose(estimate, truth, atol=1e-6 * max(1.0, scale) * 300)
    np.testing.assert_allclose(_apply(estimate, src), dst, atol=1e-6 * 300)


def test_similarity_transform_is_identity_on_the_template():
    matrix = similarity_transform(ARCFACE_TEMPLATE, ARCFACE_TEMPLATE)
    np.testing.assert_allclose(matrix, [[1, 0, 0], [0, 1, 0]], atol=1e-9)


def test_template_landmarks_fill_the_box():
    np.testing.assert_allclose(template_landmarks((0, 0, 112, 112)), ARCFACE_TEMPLATE)
    placed = template_landmarks((10, 20, 56, 56))
    np.testing.assert_allclose(placed, ARCFACE_TEMPLATE / 2 + [10, 20])


def test_choose_face_prefers_central_among_large():
    shape = (200, 200, 3)
    corner_big = Face((0, 0, 60, 60), None, 0.9)
    central = Face((75, 75, 50, 50), None, 0.9)  # 0.69 x the largest area, in the centre
    tiny_centre = Face((95, 95, 10, 10), None, 0.99)
    assert choose_face([corner_big, central, tiny_centre], shape) is central
    assert choose_face([corner_big, tiny_centre], shape) is corner_big


def test_pad_and_upscale_and_crop_shape():
    image = np.zeros((48, 48, 3), np.uint8)
    out = pad_and_upscale(image, pad=0.5, size=320)
    assert out.shape == (320, 320, 3)
    assert is_crop_like((48, 48), 1.5) and not is_crop_like((100, 300), 1.5)
