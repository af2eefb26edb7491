"""Capture-domain augmentation of aligned face crops: what another camera would have made of
the same face (colour, grey, framing, focus, compression, light).

A blinder that collapses a person's photos onto one point learns that collapse only for the
variation its training rows show; the fixture's five datasets are five cameras. Augmented views
of the same aligned crop are more photos of the same person under new capture conditions, so
the collapse is learnt for new cameras as well. Every transform is deterministic given a seed.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

Transform = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def _grayscale(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    return np.repeat(grey[:, :, None], 3, axis=2)


def _colour(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Brightness, contrast, saturation and white balance jitter."""
    x = image.astype(np.float32)
    x = x * rng.uniform(0.7, 1.3) + rng.uniform(-25, 25)
    mean = x.mean()
    x = (x - mean) * rng.uniform(0.7, 1.3) + mean
    grey = x.mean(axis=2, keepdims=True)
    x = grey + (x - grey) * rng.uniform(0.5, 1.5)
    x = x * rng.uniform(0.9, 1.1, size=3)
    return np.clip(x, 0, 255).astype(np.uint8)


def _framing(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A small scale, shift and rotation of the face in the crop (an alignment that a
    different detector would have made)."""
    size = image.shape[0]
    angle = rng.uniform(-8, 8)
    scale = rng.uniform(0.9, 1.1)
    matrix = cv2.getRotationMatrix2D((size / 2, size / 2), angle, scale)
    matrix[:, 2] += rng.uniform(-0.05, 0.05, size=2) * size
    return cv2.warpAffine(image, matrix, (size, size), borderMode=cv2.BORDER_REFLECT)


def _blur(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Defocus, or a low-resolution camera (down- then up-sampling)."""
    if rng.random() < 0.5:
        return cv2.GaussianBlur(image, (0, 0), rng.uniform(0.6, 1.6))
    size = image.shape[0]
    small = max(24, int(size * rng.uniform(0.3, 0.6)))
    down = cv2.resize(image, (small, small), interpolation=cv2.INTER_AREA)
    return cv2.resize(down, (size, size), interpolation=cv2.INTER_LINEAR)


def _jpeg(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    quality = int(rng.integers(15, 60))
    ok, encoded = cv2.imencode(".jpg", image[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    decoded = cv2.imdecode(encoded, cv2.IMREAD_COLOR) if ok else None
    if decoded is None:  # pragma: no cover - OpenCV encodes and decodes any uint8 image
        return image
    return decoded[:, :, ::-1].copy()


def _illumination(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Light from one side: a linear gain ramp across the face."""
    size = image.shape[0]
    angle = rng.uniform(0, 2 * np.pi)
    ramp = (
        np.cos(angle) * np.linspace(-1, 1, size)[None, :]
        + np.sin(angle) * np.linspace(-1, 1, size)[:, None]
    )
    gain = 1.0 + rng.uniform(0.2, 0.5) * ramp
    return np.clip(image.astype(np.float32) * gain[:, :, None], 0, 255).astype(np.uint8)


#: The capture-domain transforms, by name.
TRANSFORMS: dict[str, Transform] = {
    "grayscale": _grayscale,
    "colour": _colour,
    "framing": _framing,
    "blur": _blur,
    "jpeg": _jpeg,
    "illumination": _illumination,
}


def augment_crop(crop: np.ndarray, seed: int) -> np.ndarray:
    """One capture-domain view of an aligned ``(s, s, 3)`` uint8 RGB crop: two to four of the
    :data:`TRANSFORMS`, chosen and parametrised by ``seed``, in a fixed order."""
    if crop.ndim != 3 or crop.shape[2] != 3 or crop.dtype != np.uint8:
        raise ValueError(f"expected an (s, s, 3) uint8 RGB crop, got {crop.shape} {crop.dtype}")
    rng = np.random.default_rng(seed)
    names = list(TRANSFORMS)
    chosen = set(rng.choice(names, size=int(rng.integers(2, 5)), replace=False).tolist())
    out = crop
    for name in names:
        if name in chosen:
            out = TRANSFORMS[name](out, rng)
    return np.ascontiguousarray(out, dtype=np.uint8)
