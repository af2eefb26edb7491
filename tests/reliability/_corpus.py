"""A corpus built at test time and a fast fake embedder, for the reliability tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from blindface.faces import Embedder, FaceResult


class FakeEmbedder(Embedder):
    """Embeds an image as the unit-norm mean colour of a 4 x 4 grid of blocks (48-d); a flat
    image has 'no face'. Fast and deterministic: for tests where real faces are not the point."""

    name = "fake"
    dim = 48

    def __init__(self) -> None:
        super().__init__(fallback_min_score=1.0)

    @property
    def weight_files(self) -> tuple[str, ...]:
        return ()

    @property
    def settings(self) -> dict:
        return {"grid": 4, **super().settings}

    def embed_many(self, images: list[np.ndarray]) -> list[FaceResult]:
        results = []
        for rgb in images:
            if rgb.min() == rgb.max():
                results.append(FaceResult(None, "failed", "no face detected (flat image)"))
                continue
            h, w = rgb.shape[:2]
            blocks = [
                rgb[i * h // 4 : (i + 1) * h // 4, j * w // 4 : (j + 1) * w // 4].mean(axis=(0, 1))
                for i in range(4)
                for j in range(4)
            ]
            vector = np.concatenate(blocks).astype(np.float32) - 127.5
            results.append(FaceResult(vector / np.linalg.norm(vector), "detected"))
        return results

    def _detect(self, rgb):  # the fake embeds without a detector
        raise NotImplementedError

    def _best_score(self, rgb):
        raise NotImplementedError

    def _crop(self, rgb, face):
        raise NotImplementedError

    def _forward(self, crops):
        raise NotImplementedError


def make_corpus(root: Path, n: int, *, flat: int = 0, seed: int = 0) -> pd.DataFrame:
    """``n`` random-noise PNGs (the last ``flat`` of them a single colour) under ``root``, and
    their dataset table."""
    rng = np.random.default_rng(seed)
    folder = root / "images"
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(n):
        if index >= n - flat:
            pixels = np.full((24, 24, 3), 90, np.uint8)
        else:
            pixels = rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"img{index:04d}.png")
        paths.append(f"images/img{index:04d}.png")
    return pd.DataFrame(
        {
            "dataset": pd.array(["synthetic"] * n, dtype="string"),
            "path": pd.array(paths, dtype="string"),
            "subject": pd.array([f"s{index % 7}" for index in range(n)], dtype="string"),
        }
    )
