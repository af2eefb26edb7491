"""The Ray engine against the local one, on real LFW images, on one shared local Ray."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from blindface.blinding import LEACE
from blindface.cli import app
from blindface.pipelines import transform_store
from blindface.store import embed_dataset, read_store

pytestmark = [pytest.mark.ray, pytest.mark.data, pytest.mark.slow]

#: LFW images compared here; benchmarks/scale.py compares 2,000 (its result is reported there).
N_IMAGES = 120


@pytest.fixture(scope="module")
def lfw(data_dir, tmp_path_factory):
    images = sorted((data_dir / "lfw" / "lfw").glob("*/*.jpg"))[::7][:N_IMAGES]
    if len(images) < N_IMAGES:
        pytest.skip("LFW not in the data fixture")
    table = pd.DataFrame(
        {
            "path": pd.array([str(p.relative_to(data_dir)) for p in images], dtype="string"),
            "subject": pd.array([p.parent.name for p in images], dtype="string"),
        }
    )
    return table, data_dir, tmp_path_factory.mktemp("ray")


@pytest.fixture(scope="module")
def both_engines(lfw, ray_address):
    table, root, tmp = lfw
    local = embed_dataset(table, root, tmp / "local.parquet", n_jobs=2, progress=False)
    ray_store = embed_dataset(
        table, root, tmp / "ray", engine="ray", num_actors=2, batch_size=16, partition_size=64,
        progress=False,
    )  # fmt: skip
    return local, ray_store


def test_ray_and_local_embeddings_are_bit_identical(both_engines):
    """The torch-bf16 SFace backend pads every batch and runs one thread, so an embedding does
    not depend on its batch, its process or the engine: the two stores agree bit for bit."""
    local, ray_store = both_engines
    assert local.is_file() and ray_store.is_dir()
    assert sorted(p.name for p in ray_store.iterdir()) == [
        "_blindface.json",
        "part-00000.parquet",
        "part-00001.parquet",
    ]
    a, b = read_store(local), read_store(ray_store)
    assert a.ok.sum() >= 0.95 * N_IMAGES
    assert a.embeddings.tobytes() == b.embeddings.tobytes()
    pd.testing.assert_frame_equal(a.table, b.table)
    assert a.metadata == b.metadata


def test_ray_kill_and_resume_gives_the_same_dataset(lfw, both_engines, ray_address):
    table, root, tmp = lfw
    manifest = tmp / "lfw.csv"
    table.to_csv(manifest, index=False)
    out = tmp / "killed"
    cache = tmp / "killed.cache"
    args = [
        sys.executable, "-c", "from blindface.cli import main; main()", "embed", str(manifest),
        "--data-root", str(root), "--out", str(out), "--engine", "ray", "--address", ray_address,
        "--actors", "2", "--batch-size", "8", "--chunk-size", "8", "--no-progress",
    ]  # fmt: skip
    with subprocess.Popen(
        args, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    ) as process:
        deadline = time.monotonic() + 240
        while len(list(cache.glob("*/chunk-*.parquet"))) < 3 and time.monotonic() < deadline:
            assert process.poll() is None, "the run ended before it could be killed"
            time.sleep(0.02)
        os.killpg(process.pid, signal.SIGKILL)
    done = len(list(cache.glob("*/chunk-*.parquet")))
    assert not out.exists() and 3 <= done < N_IMAGES // 8, done

    manifest_table = pd.read_csv(manifest, dtype="string")
    resumed = embed_dataset(
        manifest_table, root, out, engine="ray", num_actors=2, batch_size=16, partition_size=64,
        chunk_size=8, progress=False,
    )  # fmt: skip
    a, b = read_store(resumed), read_store(both_engines[1])
    assert a.embeddings.tobytes() == b.embeddings.tobytes()
    pd.testing.assert_frame_equal(a.table, b.table)
    assert a.metadata == b.metadata


def test_ray_transform_matches_local(both_engines, tmp_path, ray_address):
    local, ray_store = both_engines
    store = read_store(local)
    labels = np.array(["happy", "sad", "angry"] * len(store), dtype=object)[: len(store)]
    model = LEACE().fit(store.embeddings[store.ok], expression=labels[store.ok])
    model.save(tmp_path / "model")
    result = CliRunner().invoke(
        app,
        ["transform", "--model", str(tmp_path / "model"), "--embeddings", str(ray_store),
         "--out", str(tmp_path / "blinded"), "--engine", "ray", "--address", ray_address,
         "--actors", "1"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    by_ray = read_store(tmp_path / "blinded")
    by_local = read_store(transform_store(tmp_path / "model", local, tmp_path / "b.parquet"))
    np.testing.assert_allclose(by_ray.embeddings, by_local.embeddings, atol=1e-6)
    assert np.isnan(by_ray.embeddings[~store.ok]).all()
    pd.testing.assert_frame_equal(by_ray.table, by_local.table)
    assert by_ray.metadata == by_local.metadata
    assert len(list((tmp_path / "blinded").glob("part-*.parquet"))) == 2  # one per row group


def test_streaming_fit_over_partitions_equals_the_in_memory_fit(tmp_path, ray_address):
    """LEACE and WithinSubjectProjection from a partitioned store: one pass, locally or one Ray
    task per part, give the model an in-memory fit gives (to 1e-6)."""
    from blindface.blinding import WithinSubjectProjection
    from blindface.pipelines import fit_stores
    from blindface.store import count_parts, write_store
    from blindface.testing import make_embeddings

    data = make_embeddings(n_features=24, n_identity_subjects=40, n_emotion_subjects=12)
    table = pd.DataFrame(
        {
            "path": [f"{i}.png" for i in range(len(data.X))],
            "subject": pd.array(data.subject, dtype="string"),
            "expression": pd.array(data.expression, dtype="string"),
        }
    )
    store = write_store(
        tmp_path / "store", table, data.X, metadata={"embedder": "synthetic", "dim": 24},
        partitioned=True, partition_size=97,
    )  # fmt: skip
    assert count_parts(store) >= 3  # subjects span parts
    expression = np.asarray(data.expression, dtype=object)
    subject = np.asarray(["store:" + s for s in data.subject], dtype=object)
    for method, model in (("leace", LEACE()), ("within_subject", WithinSubjectProjection())):
        model.fit(data.X, expression=expression, subject=subject)
        for engine in ("local", "ray"):
            fitted = fit_stores(method, store, tmp_path / f"{method}-{engine}", engine=engine)
            np.testing.assert_allclose(fitted.model.weight_, model.weight_, atol=1e-6)
            np.testing.assert_allclose(fitted.model.bias_, model.bias_, atol=1e-6)
            assert fitted.rows == len(data.X) and fitted.people == len(set(data.subject))
