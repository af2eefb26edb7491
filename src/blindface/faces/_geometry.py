"""Face geometry shared by the embedders: the alignment template, similarity transforms,
choosing one face among several, and the padded retry canvas for tight crops."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: The standard ArcFace five-point template of a 112 x 112 aligned face: the eye on the
#: image's left, the other eye, the nose tip, the left and the right mouth corner (x, y).
ARCFACE_TEMPLATE = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float64,
)
TEMPLATE_SIZE = 112


def scaled_template(size: int) -> np.ndarray:
    """The ArcFace template for a ``size x size`` crop, placed as insightface's ``norm_crop``
    does: scaled by ``size / 112`` for a multiple of 112, or by ``size / 128`` and shifted
    ``8 * size / 128`` pixels right for a multiple of 128."""
    if size % TEMPLATE_SIZE == 0:
        return ARCFACE_TEMPLATE * (size / TEMPLATE_SIZE)
    if size % 128 == 0:
        ratio = size / 128
        return ARCFACE_TEMPLATE * ratio + np.array([8.0 * ratio, 0.0])
    raise ValueError(
        f"no standard ArcFace template for {size} x {size} crops (sizes are multiples of 112 "
        "or 128); give the five template points for this size"
    )


@dataclass(frozen=True)
class Face:
    """One face found in an image: box ``(x, y, w, h)``, five landmarks (5 x 2) or None, score."""

    box: tuple[float, float, float, float]
    landmarks: np.ndarray | None
    score: float

    @property
    def area(self) -> float:
        return self.box[2] * self.box[3]


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity transform (Umeyama 1991) mapping ``src`` points onto ``dst``.

    Closed form and deterministic (unlike a RANSAC/LMEDS estimate), so that the same image
    always gives bit-identical embeddings. Returns a 2 x 3 matrix for ``cv2.warpAffine``.
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    covariance = dst_c.T @ src_c / len(src)
    u, s, vt = np.linalg.svd(covariance)
    d = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[1] = -1.0
    rotation = u @ np.diag(d) @ vt
    variance = (src_c**2).sum() / len(src)
    scale = (s * d).sum() / variance if variance > 1e-12 else 1.0
    matrix = np.empty((2, 3))
    matrix[:, :2] = scale * rotation
    matrix[:, 2] = dst_mean - scale * rotation @ src_mean
    return matrix


def align_face(
    rgb: np.ndarray, landmarks: np.ndarray, template: np.ndarray, size: int
) -> np.ndarray:
    """The ``size x size`` crop of ``rgb`` whose five ``landmarks`` best match ``template``
    (similarity transform, bilinear warp, black border)."""
    import cv2

    matrix = similarity_transform(landmarks, template)
    crop = cv2.warpAffine(
        rgb,
        matrix,
        (size, size),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(0, 0, 0),
    )
    return np.asarray(crop)


def template_landmarks(box: tuple[float, float, float, float]) -> np.ndarray:
    """The template's five landmarks placed in ``box``, as if the box were the aligned canvas."""
    x, y, w, h = box
    return ARCFACE_TEMPLATE / TEMPLATE_SIZE * np.array([w, h]) + np.array([x, y])


def choose_face(faces: list[Face], shape: tuple[int, ...]) -> Face:
    """The face to embed: among faces at least half as large as the largest, the most central."""
    largest = max(face.area for face in faces)
    candidates = [face for face in faces if face.area >= 0.5 * largest]
    centre = np.array([shape[1], shape[0]]) / 2.0

    def distance(face: Face) -> float:
        x, y, w, h = face.box
        return float(np.hypot(*(np.array([x + w / 2, y + h / 2]) - centre)))

    return min(candidates, key=distance)


def pad_and_upscale(image: np.ndarray, pad: float, size: int) -> np.ndarray:
    """Pad ``image`` by ``pad`` x its longer side on every edge (edge pixels replicated) and
    resize it so the longer side is ``size``: a tight crop becomes a face with context at a
    scale the detectors like."""
    import cv2

    border = round(pad * max(image.shape[:2]))
    padded = cv2.copyMakeBorder(image, border, border, border, border, cv2.BORDER_REPLICATE)
    scale = size / max(padded.shape[:2])
    width, height = round(padded.shape[1] * scale), round(padded.shape[0] * scale)
    interpolation = cv2.INTER_CUBIC if scale > 1 else cv2.INTER_AREA
    return cv2.resize(padded, (width, height), interpolation=interpolation)


def is_crop_like(shape: tuple[int, ...], max_aspect: float) -> bool:
    """Whether an image is shaped like a face crop (roughly square)."""
    height, width = shape[:2]
    return max(height, width) / max(min(height, width), 1) <= max_aspect
