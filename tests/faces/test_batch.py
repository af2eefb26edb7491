"""embed_files: order, workers vs in-process, streaming, arguments.

Bad files in a batch are the corpus of ``tests/reliability/test_images.py``; crashing and
orphaned workers are ``tests/reliability/test_workers.py``.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from blindface.faces import embed_files

from .conftest import sample_files


@pytest.mark.data
def test_workers_match_in_process_bit_for_bit(data_dir):
    paths = sample_files(data_dir, "ckplus", 6) + sample_files(data_dir, "celeba", 6)
    here = list(embed_files(paths, n_jobs=1, backend="opencv"))
    pooled = list(embed_files(paths, n_jobs=2, chunk_size=4, backend="opencv"))
    assert [r.path for r in pooled] == [str(p) for p in paths]
    for a, b in zip(here, pooled, strict=True):
        assert a.path == b.path and a.status == b.status == "detected"
        np.testing.assert_array_equal(a.embedding, b.embedding)


@pytest.mark.data
@pytest.mark.parametrize("n_jobs", [1, 2])
def test_streams_an_endless_input(data_dir, n_jobs):
    endless = itertools.cycle(sample_files(data_dir, "ckplus", 3))
    records = embed_files(endless, n_jobs=n_jobs, chunk_size=2, backend="opencv")
    first = list(itertools.islice(records, 7))
    assert len(first) == 7 and first[0].path == first[3].path
    np.testing.assert_array_equal(first[0].embedding, first[6].embedding)


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="n_jobs"):
        list(embed_files(["a.jpg"], n_jobs=0))
    with pytest.raises(ValueError, match="chunk_size"):
        list(embed_files(["a.jpg"], chunk_size=0))
    with pytest.raises(ValueError, match="unknown embedder 'facenet'"):
        list(embed_files(["a.jpg"], "facenet", n_jobs=2))
