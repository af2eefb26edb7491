"""Shared helpers for the face tests: small samples of the real fixture images."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from blindface.datasets import DatasetWarning, load_lfw_pairs

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
    """The first ``n_each`` matched and mismatched LFW DevTest pairs whose images are both in
    the fixture (a subset of LFW: the loader skips, with a warning, the pairs it lacks)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DatasetWarning)
        table = load_lfw_pairs(data_dir, "devtest")
    pairs = []
    for same in (True, False):
        rows = table[table["same"] == same].head(n_each)
        for a, b in zip(rows["path_a"], rows["path_b"], strict=True):
            pairs.append((data_dir / a, data_dir / b, same))
    return pairs
