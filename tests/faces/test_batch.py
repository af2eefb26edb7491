"""embed_files: order, bad files in a batch, workers vs in-process, streaming."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from PIL import Image

from blindface.faces import embed_files

from .conftest import sample_files
from .test_image import write_png_header_only


@pytest.fixture(scope="module")
def bad_and_good(data_dir, tmp_path_factory):
    """Real faces interleaved with every kind of bad input; expected status per file."""
    folder = tmp_path_factory.mktemp("batch")
    real = sample_files(data_dir, "utkface", 6, step=11)
    face = Image.open(real[0])
    (folder / "zero.jpg").write_bytes(b"")
    data = real[1].read_bytes()
    (folder / "truncated.jpg").write_bytes(data[: len(data) // 2])
    (folder / "text.jpg").write_text("not an image at all\n")
    write_png_header_only(folder / "bomb.png", 20000, 20000)
    face.convert("CMYK").save(folder / "cmyk.jpg", quality=95)
    gray16 = np.asarray(face.convert("L"), dtype=np.uint16) * 257
    Image.fromarray(gray16).save(folder / "gray16.png")
    Image.fromarray(np.full((120, 120, 3), 127, np.uint8)).save(folder / "grey.png")
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 256, (120, 120, 3), dtype=np.uint8)).save(folder / "noise.png")
    expected = {
        "zero.jpg": ("failed", "empty file"),
        "truncated.jpg": ("failed", "truncated"),
        "text.jpg": ("failed", "not an image"),
        "bomb.png": ("failed", "MP limit"),
        "missing.jpg": ("failed", "file not found"),
        "cmyk.jpg": ("detected", None),
        "gray16.png": ("detected", None),
        "grey.png": ("failed", "no face"),
        "noise.png": ("failed", "no face"),
    }
    bad = [folder / name for name in expected]
    paths = [p for pair in itertools.zip_longest(bad, real) for p in pair if p is not None]
    expected.update({p.name: ("detected", None) for p in real})
    return paths, expected


@pytest.mark.data
def test_bad_files_are_recorded_and_the_batch_goes_on(bad_and_good):
    paths, expected = bad_and_good
    records = list(embed_files(paths, "sface", n_jobs=2, chunk_size=3))
    assert [r.path for r in records] == [str(p) for p in paths]
    for record in records:
        status, reason = expected[record.path.rsplit("/", 1)[-1]]
        assert record.status == status, (record.path, record.reason)
        if status == "failed":
            assert record.embedding is None and reason in record.reason
        else:
            assert record.embedding.shape == (128,)
            assert abs(float(np.linalg.norm(record.embedding)) - 1) < 1e-5


@pytest.mark.data
def test_workers_match_in_process_bit_for_bit(data_dir):
    paths = sample_files(data_dir, "ckplus", 6) + sample_files(data_dir, "celeba", 6)
    here = list(embed_files(paths, n_jobs=1))
    pooled = list(embed_files(paths, n_jobs=2, chunk_size=4))
    for a, b in zip(here, pooled, strict=True):
        assert a.path == b.path and a.status == b.status
        np.testing.assert_array_equal(a.embedding, b.embedding)


@pytest.mark.data
@pytest.mark.parametrize("n_jobs", [1, 2])
def test_streams_an_endless_input(data_dir, n_jobs):
    endless = itertools.cycle(sample_files(data_dir, "ckplus", 3))
    records = list(itertools.islice(embed_files(endless, n_jobs=n_jobs, chunk_size=2), 7))
    assert len(records) == 7 and records[0].path == records[3].path
    np.testing.assert_array_equal(records[0].embedding, records[6].embedding)


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="n_jobs"):
        list(embed_files(["a.jpg"], n_jobs=0))
    with pytest.raises(ValueError, match="chunk_size"):
        list(embed_files(["a.jpg"], chunk_size=0))
