"""`blindface embed` runs that go wrong: killed, concurrent, a bad --out, nothing embedded, a
full disk. Each ends with a correct store or a clear message and a non-zero exit."""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from blindface._io import TEMP_PREFIX
from blindface.cli import app
from blindface.store import StoreError, embed_dataset, read_store

from ._corpus import make_corpus


def _cli(manifest: Path, root: Path, out: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-c",
        "from blindface.cli import main; main()",
        "embed",
        str(manifest),
        "--data-root",
        str(root),
        "--out",
        str(out),
        "--no-progress",
        *extra,
    ]


def _manifest(tmp_path: Path, data_dir: Path, n: int, step: int = 3) -> Path:
    """A CSV manifest of ``n`` real CK+ images."""
    images = sorted((data_dir / "ckplus48" / "CK+48").glob("*/*.png"))[::step][:n]
    manifest = tmp_path / "images.csv"
    pd.DataFrame({"path": [str(p.relative_to(data_dir)) for p in images]}).to_csv(
        manifest, index=False
    )
    return manifest


def _reference(manifest: Path, root: Path, out: Path):
    """The store an uninterrupted run writes (in-process, one job, like the CLI runs here)."""
    from blindface.datasets import load_manifest

    table = load_manifest(str(manifest), root=str(root))
    return read_store(embed_dataset(table, root, out, n_jobs=1, progress=False))


def _same(a, b) -> bool:
    return (
        a.table.equals(b.table)
        and a.embeddings.tobytes() == b.embeddings.tobytes()
        and a.metadata == b.metadata
    )


def _leftovers(*folders: Path) -> list[Path]:
    return [p for folder in folders for p in folder.rglob(f"{TEMP_PREFIX}*")]


@pytest.mark.data
@pytest.mark.slow
def test_kill_and_resume_gives_an_identical_store(data_dir, tmp_path):
    """SIGKILL mid-run on real images, rerun: the same store, bit for bit."""
    manifest = _manifest(tmp_path, data_dir, 240)
    killed = tmp_path / "killed" / "ck.parquet"
    cache = killed.parent / "ck.parquet.cache"
    args = _cli(manifest, data_dir, killed, "--jobs", "1", "--chunk-size", "10")
    with subprocess.Popen(
        args, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    ) as process:
        deadline = time.monotonic() + 180
        while len(list(cache.glob("*/chunk-*.parquet"))) < 4 and time.monotonic() < deadline:
            assert process.poll() is None, "the run ended before it could be killed"
            time.sleep(0.01)
        os.killpg(process.pid, signal.SIGKILL)
    done = len(list(cache.glob("*/chunk-*.parquet")))
    assert not killed.exists() and 4 <= done < 24, done

    rerun = subprocess.run(args, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    reference = _reference(manifest, data_dir, tmp_path / "whole" / "ck.parquet")
    assert _same(read_store(killed), reference)
    assert reference.ok.sum() >= 230
    assert not _leftovers(killed.parent)


@pytest.mark.data
@pytest.mark.slow
def test_two_concurrent_runs_into_the_same_out(data_dir, tmp_path):
    manifest = _manifest(tmp_path, data_dir, 60, step=5)
    out = tmp_path / "shared" / "ck.parquet"
    args = _cli(manifest, data_dir, out, "--jobs", "1", "--chunk-size", "10")
    runs = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)]
    runs.append(subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    for run in runs:
        _, stderr = run.communicate(timeout=300)
        assert run.returncode == 0, stderr
    assert _same(read_store(out), _reference(manifest, data_dir, tmp_path / "ref" / "ck.parquet"))
    assert not _leftovers(out.parent)
    assert not (out.parent / "ck.parquet.cache" / "quarantine").exists()


def test_out_naming_a_folder_is_refused_before_any_work(tmp_path):
    table = make_corpus(tmp_path, 3)
    table.to_csv(tmp_path / "m.csv", index=False)
    args = ["embed", str(tmp_path / "m.csv"), "--data-root", str(tmp_path), "--no-progress"]
    result = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "images")])
    assert result.exit_code == 2
    assert "is a folder, but the embedding store is written as a file" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "images.cache").exists()


@pytest.mark.parametrize(
    ("case", "expected"),
    [("no faces", "3 × no face detected"), ("empty table", "the table has no rows")],
)
def test_zero_embedded_images_is_an_error_with_the_reason(tmp_path, case, expected):
    table = make_corpus(tmp_path, 3, flat=3)  # single-colour images: no face in them
    if case == "empty table":
        table = table.iloc[:0]
    table.to_csv(tmp_path / "m.csv", index=False)
    out = tmp_path / "store.parquet"
    result = CliRunner().invoke(
        app,
        ["embed", str(tmp_path / "m.csv"), "--data-root", str(tmp_path), "--out", str(out),
         "--jobs", "1", "--no-progress"],
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert expected in result.output and "not written" in result.output
    assert "Traceback" not in result.output
    assert not out.exists()


def test_zero_embedded_because_no_file_exists_points_at_the_data_root(tmp_path):
    table = make_corpus(tmp_path, 4)
    with pytest.raises(StoreError, match="4 × file not found.*check --data-root") as error:
        embed_dataset(table, tmp_path / "elsewhere", tmp_path / "s.parquet", progress=False)
    assert str(tmp_path / "elsewhere" / "images" / "img0000.png") in str(error.value)
    assert not (tmp_path / "s.parquet").exists()


def test_full_disk_is_a_clear_error(tmp_path, monkeypatch):
    """ENOSPC while writing: the file is named, the exit is non-zero, no temp file is left."""
    import blindface._io

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    table = make_corpus(tmp_path, 3, flat=1)
    table.to_csv(tmp_path / "m.csv", index=False)
    monkeypatch.setattr(blindface._io.os, "fsync", full)
    out = tmp_path / "out" / "store.parquet"
    result = CliRunner().invoke(
        app,
        ["embed", str(tmp_path / "m.csv"), "--data-root", str(tmp_path), "--out", str(out),
         "--jobs", "1", "--no-progress"],
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "No space left on device" in result.output and "free some space" in result.output
    assert "chunk-" in result.output  # the first file written: a cache chunk
    assert "Traceback" not in result.output
    assert not _leftovers(tmp_path) and not out.exists()
    monkeypatch.undo()
    shutil.rmtree(tmp_path / "out")
