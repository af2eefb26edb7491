"""Shared helpers for the face tests: small samples of the real fixture images."""

from __future__ import annotations

from pathlib import Path

import pytest

SAMPLES = {
    "jaffe": ("jaffe/jaffedbase", "*.tiff"),
    "ckplus": ("ckplus48/CK+48", "*/*.png"),
    "lfw": ("lfw/lfw", "*/*.jpg"),
    "utkface": ("utkface/UTKFace", "*.jpg"),
    "celeba": ("celeba/img_celeba_crop", "*.jpg"),
}


def sample_files(data_dir: Path, dataset: str, n: int, step: int = 7) -> list[Path]:
    """Every ``step``-th file of a fixture dataset (sorted), ``n`` of them."""
    folder, pattern = SAMPLES[dataset]
    files = sorted((data_dir / folder).glob(pattern))
    if not files:
        pytest.skip(f"{dataset} not in the data fixture")
    return files[::step][:n]


def lfw_pairs(data_dir: Path, n_each: int) -> list[tuple[Path, Path, bool]]:
    """The first ``n_each`` complete matched and mismatched LFW DevTest pairs."""
    root = data_dir / "lfw" / "lfw"
    lines = (data_dir / "lfw" / "pairsDevTest.txt").read_text().splitlines()[1:]

    def image(name: str, number: str) -> Path:
        return root / name / f"{name}_{int(number):04d}.jpg"

    same, different = [], []
    for line in lines:
        parts = line.split("\t")
        if len(parts) == 3:
            pair, bucket = (image(parts[0], parts[1]), image(parts[0], parts[2])), same
        else:
            pair, bucket = (image(parts[0], parts[1]), image(parts[2], parts[3])), different
        if pair[0].is_file() and pair[1].is_file() and len(bucket) < n_each:
            bucket.append(pair)
    return [(a, b, True) for a, b in same] + [(a, b, False) for a, b in different]
