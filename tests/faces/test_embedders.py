"""The embedders on real fixture images, and the detect -> retry -> fallback policy."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from blindface.faces import Embedder, FaceResult, get_embedder, read_image, sface_model_paths
from blindface.faces._geometry import Face

from .conftest import lfw_pairs, sample_files


@pytest.fixture(scope="module")
def sface() -> Embedder:
    return get_embedder("sface")


def _embed(embedder: Embedder, path) -> FaceResult:
    return embedder.embed(read_image(path))


def test_sface_identity_metadata(sface):
    assert sface.name == "sface" and sface.dim == 128
    digest = hashlib.sha256()
    for path in sface_model_paths():
        digest.update(Path(path).read_bytes())
    assert sface.weights_hash == digest.hexdigest()
    settings = json.loads(json.dumps(sface.settings))
    assert settings["crop_size"] == 112 and settings["input"].startswith("RGB")


def test_rejects_non_rgb_arrays(sface):
    with pytest.raises(ValueError, match="uint8 RGB"):
        sface.embed(np.zeros((10, 10), np.uint8))


@pytest.mark.data
@pytest.mark.parametrize(
    ("dataset", "n"), [("jaffe", 8), ("ckplus", 16), ("lfw", 16), ("utkface", 8), ("celeba", 8)]
)
def test_sface_embeds_fixture_images(data_dir, sface, dataset, n):
    results = [_embed(sface, path) for path in sample_files(data_dir, dataset, n)]
    assert all(r.status == "detected" for r in results), [r.reason for r in results]
    vectors = np.stack([r.embedding for r in results])
    assert vectors.shape == (n, 128) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.isfinite(vectors).all()


def _pair_scores(embedder: Embedder, pairs) -> tuple[np.ndarray, np.ndarray]:
    scores, same = [], []
    for a, b, is_same in pairs:
        ea, eb = _embed(embedder, a).embedding, _embed(embedder, b).embedding
        scores.append(float(ea @ eb))
        same.append(is_same)
    return np.array(scores), np.array(same)


@pytest.mark.data
def test_sface_same_person_is_more_similar(data_dir, sface):
    scores, same = _pair_scores(sface, lfw_pairs(data_dir, 12))
    assert scores[same].mean() > scores[~same].mean() + 0.3
    best = max(np.mean((scores >= t) == same) for t in scores)
    assert best >= 0.9


@pytest.mark.data
def test_sface_rgb_matches_opencv_reference_preprocessing(data_dir):
    """The aligned crop is fed as RGB 0..255, like OpenCV's FaceRecognizerSF
    (``blobFromImage(aligned_bgr, 1, (112, 112), 0, swapRB=True)``)."""
    import cv2

    sface = get_embedder("sface", backend="opencv")
    rgb = read_image(sample_files(data_dir, "utkface", 1)[0])
    face = sface._detect(rgb)[0]
    aligned_rgb = sface.align(rgb, face.landmarks)
    blob = cv2.dnn.blobFromImage(aligned_rgb[:, :, ::-1].copy(), 1.0, (112, 112), 0, swapRB=True)
    net = sface._opencv_net
    assert net is not None
    net.setInput(blob, "data")
    reference = net.forward().ravel()
    reference /= np.linalg.norm(reference)
    np.testing.assert_allclose(sface.embed(rgb).embedding, reference, atol=1e-6)


@pytest.mark.data
def test_sface_backends_agree_and_batches_do_not_matter(data_dir):
    pytest.importorskip("torch")
    images = [read_image(p) for p in sample_files(data_dir, "celeba", 10)]
    reference = get_embedder("sface", backend="opencv").embed_many(images)
    fast = get_embedder("sface", backend="torch-bf16", batch_size=4)
    batched = fast.embed_many(images)
    for ref, res in zip(reference, batched, strict=True):
        assert ref.status == res.status == "detected"
        assert float(ref.embedding @ res.embedding) > 0.999
    alone = fast.embed(images[6])
    np.testing.assert_array_equal(alone.embedding, batched[6].embedding)
    assert fast.settings["backend"] == "torch-bf16" and fast.settings["batch_size"] == 4


@pytest.mark.data
def test_tight_crops_are_retried_or_fall_back(data_dir, sface):
    """Very tight, tiny crops (48 px, half the face) still get embedded, close to the full face."""
    import cv2

    statuses, similarities = [], []
    for path in sample_files(data_dir, "lfw", 20, step=1):
        full = read_image(path)
        side = full.shape[0]
        crop = full[side // 4 + 10 : side - side // 4 + 10, side // 4 : side - side // 4]
        tiny = cv2.resize(crop, (48, 48), interpolation=cv2.INTER_AREA)
        result = sface.embed(tiny)
        statuses.append(result.status)
        if result.embedding is not None:
            similarities.append(float(result.embedding @ sface.embed(full).embedding))
    assert "retried" in statuses and "fallback" in statuses, statuses
    assert statuses.count("failed") <= 5
    assert np.mean(similarities) > 0.3


@pytest.mark.parametrize(
    "image",
    [
        np.full((200, 200, 3), 128, np.uint8),
        np.random.default_rng(0).integers(0, 256, (200, 200, 3), dtype=np.uint8),
    ],
    ids=["flat-grey", "noise"],
)
def test_images_without_a_face_fail_with_reason(sface, image):
    result = sface.embed(image)
    assert result.status == "failed" and result.embedding is None
    assert "no face detected" in result.reason


class _ScriptedEmbedder(Embedder):
    """An embedder whose detector answers from a script, to test the policy alone."""

    name, dim = "scripted", 4

    def __init__(self, found_at: str | None, best: float = 0.0) -> None:
        super().__init__(fallback_min_score=0.2)
        self.found_at, self.best, self.described = found_at, best, []

    @property
    def weight_files(self) -> tuple[str, ...]:
        return ()

    def _detect(self, rgb):
        padded = rgb.shape[0] == self.retry_size
        if (self.found_at == "original" and not padded) or (self.found_at == "padded" and padded):
            return [Face((1, 1, 5, 5), np.zeros((5, 2)), 0.9)]
        return []

    def _best_score(self, rgb):
        return self.best

    def _crop(self, rgb, face):
        self.described.append((rgb.shape, face.box))
        return rgb

    def _forward(self, crops):
        return np.array([[3.0, 0.0, 4.0, 0.0]] * len(crops))


@pytest.mark.parametrize(
    ("found_at", "best", "shape", "status"),
    [
        ("original", 0.0, (48, 48, 3), "detected"),
        ("padded", 0.0, (48, 48, 3), "retried"),
        (None, 0.5, (48, 48, 3), "fallback"),
        (None, 0.1, (48, 48, 3), "failed"),  # no candidate at all: not a face
        (None, 0.5, (48, 200, 3), "failed"),  # not shaped like a face crop
    ],
)
def test_policy(found_at, best, shape, status):
    embedder = _ScriptedEmbedder(found_at, best)
    result = embedder.embed(np.zeros(shape, np.uint8))
    assert result.status == status
    if status == "failed":
        assert result.embedding is None and "no face" in result.reason
        return
    np.testing.assert_allclose(result.embedding, [0.6, 0, 0.8, 0])
    assert result.embedding.dtype == np.float32
    if status == "fallback":
        assert embedder.described == [(shape, (0.0, 0.0, 48.0, 48.0))]
        assert "whole image" in result.reason


def test_crop_errors_become_failures():
    class Broken(_ScriptedEmbedder):
        def _crop(self, rgb, face):
            raise RuntimeError("model exploded")

    result = Broken("original").embed(np.zeros((48, 48, 3), np.uint8))
    assert result.status == "failed" and "model exploded" in result.reason


# -- dlib -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dlib_embedder() -> Embedder:
    pytest.importorskip("dlib")
    return get_embedder("dlib")


@pytest.mark.data
@pytest.mark.dlib
def test_dlib_embeds_and_separates_identities(data_dir, dlib_embedder):
    assert dlib_embedder.dim == 128 and len(dlib_embedder.weights_hash) == 64
    scores, same = _pair_scores(dlib_embedder, lfw_pairs(data_dir, 3))
    assert scores[same].min() > scores[~same].max()
    ck = [_embed(dlib_embedder, p) for p in sample_files(data_dir, "ckplus", 4, step=97)]
    assert all(r.status != "failed" for r in ck), [r.reason for r in ck]
    vectors = np.stack([r.embedding for r in ck])
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_dlib_missing_names_the_extra(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "face_recognition_models" else real(name, *a),
    )
    with pytest.raises(ModuleNotFoundError, match=r"blindface\[dlib\]"):
        get_embedder("dlib")
