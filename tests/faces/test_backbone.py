"""The trainable-backbone infrastructure: SFace cut in two, aligned crops and feature maps, and
their cache of sealed chunks."""

from __future__ import annotations

import shutil
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from blindface.faces import face_crops, sface_features, sface_model_paths, split_sface
from blindface.faces._chunks import ChunkCache, ChunkWarning
from blindface.faces._sface_torch import load_sface_torch
from blindface.store import embed_dataset, read_store


@pytest.fixture(scope="module")
def crops():
    return np.random.default_rng(0).integers(0, 256, (3, 112, 112, 3)).astype(np.uint8)


@pytest.mark.parametrize("cut", [50, 54])
def test_the_two_parts_compose_to_sface(crops, cut):
    split = split_sface(cut)
    net = load_sface_torch(sface_model_paths()[1])
    with torch.no_grad():
        expected = net(torch.from_numpy(crops.transpose(0, 3, 1, 2).astype(np.float32)))
        got = split.upper()(torch.from_numpy(split.features(crops, batch_size=2)))
    assert split.feature_shape == (1024, 7, 7)
    assert split.cut_tensor == ("conv_13_relu" if cut == 50 else "conv_14_relu")
    np.testing.assert_allclose(got.numpy(), expected.numpy(), atol=1e-4)


def test_cuts_fall_between_blocks_and_the_upper_part_trains():
    with pytest.raises(ValueError, match="between two blocks.*one of 2, 4,"):
        split_sface(51)
    with pytest.raises(ValueError, match="integer"):
        split_sface(50.0)  # type: ignore[arg-type]
    upper = split_sface().upper()
    assert all(p.requires_grad for p in upper.parameters())
    assert [tuple(p.shape) for p in upper.parameters()] == [
        (1024, 1, 3, 3), (1024,), (1024,), (1024, 1024, 1, 1), (1024,), (1024,),
        (128, 50176), (128,),
    ]  # fmt: skip
    arrays = upper.arrays()
    arrays[0] = arrays[0] * 0
    fresh = split_sface().upper()
    fresh.load_arrays(arrays)
    assert float(fresh.layers[0].weight.detach().abs().sum()) == 0
    assert (
        float(split_sface().upper().layers[0].weight.detach().abs().sum()) > 0
    )  # a copy each time
    with pytest.raises(ValueError, match="array 1 has shape"):
        fresh.load_arrays([arrays[0], arrays[0], *arrays[2:]])


def test_a_damaged_chunk_is_moved_aside(tmp_path):
    cache = ChunkCache(tmp_path, "key", (2, 3), np.uint8)
    cache.add(["a", "b"], [np.ones((2, 3)), None], ["detected", "failed"], [None, "no face"])
    assert len(ChunkCache(tmp_path, "key", (2, 3), np.uint8)) == 2
    (npy,) = tmp_path.glob("chunk-*.npy")
    npy.write_bytes(npy.read_bytes()[:-3])
    with pytest.warns(ChunkWarning, match="moved into"):
        again = ChunkCache(tmp_path, "key", (2, 3), np.uint8)
    assert len(again) == 0 and len(list((tmp_path / "quarantine").iterdir())) == 2
    with pytest.warns(ChunkWarning, match="another model"):
        cache.add(["c"], [np.ones((2, 3))], ["detected"], [None])
        ChunkCache(tmp_path, "other", (2, 3), np.uint8)


@pytest.mark.parametrize(
    ("index", "problem"),
    [
        ('{"format": "blindface.array-chunk/1", "key": "key", "shape": [2, 3], "dtype": "|u1", '
         '"rows": [{"hash": "a", "row": "0", "status": "detected", "reason": null}]}',
         "malformed row"),
        ("[" * 100_000, "nest"),
        ("{", "JSON"),
    ],
)  # fmt: skip
def test_a_malformed_index_is_moved_aside(tmp_path, index, problem):
    cache = ChunkCache(tmp_path, "key", (2, 3), np.uint8)
    cache.add(["a"], [np.ones((2, 3))], ["detected"], [None])
    (path,) = tmp_path.glob("chunk-*.json")
    path.write_text(index)
    with pytest.warns(ChunkWarning, match=problem):
        assert len(ChunkCache(tmp_path, "key", (2, 3), np.uint8)) == 0


@pytest.fixture
def images(data_dir, tmp_path):
    """Six JAFFE images and a blank one (no face) in a folder of their own, and their table."""
    root = tmp_path / "images"
    root.mkdir()
    for image in sorted((data_dir / "jaffe" / "jaffedbase").glob("*.tiff"))[:60:10]:
        shutil.copy(image, root / image.name)
    Image.new("RGB", (120, 120), (128, 128, 128)).save(root / "blank.png")
    table = pd.DataFrame({"path": sorted(p.name for p in root.iterdir())})
    return root, table


@pytest.mark.data
def test_crops_and_maps_match_the_sface_store(images, tmp_path):
    root, table = images
    store_path = embed_dataset(table, root, tmp_path / "s.parquet", n_jobs=1, progress=False)
    store = read_store(store_path)
    cache = tmp_path / "cache"
    found = face_crops(table, root, cache, n_jobs=1, progress=False)
    assert list(found.status) == list(store.table["face_status"])
    assert found.digests == list(store.table["content_hash"])
    assert found.ok.sum() == 6 and found.crops().shape == (6, 112, 112, 3)

    maps = sface_features(store.table, root, cache, n_jobs=1, progress=False)
    assert isinstance(maps, np.memmap) and maps.dtype == np.float16
    assert maps.shape == (6, 1024, 7, 7)
    with torch.no_grad():
        z = split_sface().upper()(torch.from_numpy(np.asarray(maps, np.float32))).numpy()
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    assert (z * store.embeddings[store.ok]).sum(axis=1).min() > 0.999
    ok_rows = store.table[store.ok].reset_index(drop=True)
    again = sface_features(ok_rows, root, cache, n_jobs=2, progress=False)  # all from the cache
    np.testing.assert_array_equal(again, maps)
    plain = sface_features(table, root, cache, cut=54, n_jobs=1, progress=False)
    assert plain.shape == (6, 1024, 7, 7) and not np.array_equal(plain, maps)


@pytest.mark.data
def test_a_store_whose_images_moved_or_changed_is_refused(images, tmp_path):
    root, table = images
    store = read_store(embed_dataset(table, root, tmp_path / "s.parquet", progress=False, n_jobs=1))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    with pytest.raises(FileNotFoundError, match="6 of the 6 images.*--data-root"):
        sface_features(store.table, elsewhere, tmp_path / "cache", n_jobs=1, progress=False)
    first = root / str(table["path"][0])
    first.write_bytes(first.read_bytes() + b"\0")
    with warnings.catch_warnings(), pytest.raises(ValueError, match="changed since the store"):
        warnings.simplefilter("ignore")
        sface_features(store.table, root, tmp_path / "cache", n_jobs=1, progress=False)
