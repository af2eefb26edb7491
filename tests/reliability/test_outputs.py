"""Never overwrite or half-write a user's file: one output guard before any work, atomic model
and report folders, a full disk that leaves nothing behind and says how much was needed."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from blindface._io import TEMP_PREFIX
from blindface.cli import app

from ._corpus import make_corpus
from ._hostile import labelled_store, leace_model


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert "Traceback" not in result.output
    return result.exit_code, " ".join(result.output.split())


def _leftovers(root: Path) -> list[Path]:
    return [p for p in root.rglob(f"{TEMP_PREFIX}*")]


# -- an output that is an input ---------------------------------------------------------------


def test_transform_out_equal_to_embeddings_is_refused(tmp_path):
    store = labelled_store(tmp_path / "s.parquet")
    before = store.read_bytes()
    model = leace_model(tmp_path / "m", store)
    code, output = _run("transform", "--model", model, "--embeddings", store, "--out", store)
    assert code == 2 and "is an input of this command (--embeddings" in output
    assert store.read_bytes() == before


def test_embed_out_equal_to_the_manifest_is_refused(tmp_path):
    make_corpus(tmp_path, 3).to_csv(tmp_path / "m.csv", index=False)
    before = (tmp_path / "m.csv").read_bytes()
    code, output = _run("embed", tmp_path / "m.csv", "--out", tmp_path / "m.csv", "--no-progress")
    assert code == 2 and "is an input of this command (the manifest" in output
    assert (tmp_path / "m.csv").read_bytes() == before
    assert not (tmp_path / "m.csv.cache").exists()


def test_fit_out_holding_its_stores_is_refused(tmp_path):
    labelled_store(tmp_path / "stores" / "a.parquet")
    code, output = _run(
        "fit", "--method", "leace", "--embeddings", tmp_path / "stores", "--out", tmp_path
    )
    assert code == 2 and "holds an input of this command" in output


# -- another tool's folder or file ------------------------------------------------------------


@pytest.mark.parametrize("extra", [[], ["pytorch_model.bin"]])
def test_fit_into_another_tools_folder_is_refused(tmp_path, extra):
    store = labelled_store(tmp_path / "s.parquet")
    theirs = tmp_path / "their-model"
    theirs.mkdir()
    (theirs / "config.json").write_text('{"architectures": ["BertModel"]}')
    for name in extra:
        (theirs / name).write_bytes(b"weights")
    code, output = _run("fit", "--method", "leace", "--embeddings", store, "--out", theirs)
    assert code == 2 and "holds files blindface did not write there (config.json" in output
    assert (theirs / "config.json").read_text() == '{"architectures": ["BertModel"]}'
    # a blindface model folder is replaced, as before
    model = leace_model(tmp_path / "m", store)
    code, _ = _run("fit", "--method", "leace", "--embeddings", store, "--out", model)
    assert code == 0


def test_wrong_kinds_of_outputs_are_refused_before_any_work(tmp_path):
    """The stores and the model named here do not exist: the guard answers first."""
    (tmp_path / "notes.txt").write_text("mine")
    code, output = _run(
        "fit", "--method", "leace", "--embeddings", tmp_path / "none.parquet",
        "--out", tmp_path / "notes.txt",
    )  # fmt: skip
    assert (
        code == 2 and "notes.txt is a file, but the model folder is written as a folder" in output
    )
    code, output = _run(
        "export-recognizer", "--model", tmp_path / "no-model", "--out", tmp_path
    )  # fmt: skip
    assert code == 2 and "is a folder, but the ONNX recognizer is written as a file" in output
    code, output = _run(
        "export-recognizer", "--model", tmp_path / "no-model", "--out", tmp_path / "notes.txt"
    )  # fmt: skip
    assert code == 2 and "notes.txt exists and is not a blindface ONNX recognizer" in output
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "mine.md").write_text("mine")
    code, output = _run(
        "audit", "--embeddings", tmp_path / "none.parquet", "--out", tmp_path / "reports"
    )  # fmt: skip
    assert code == 2 and "holds files blindface did not write there (mine.md" in output
    code, output = _run(
        "transform", "--model", tmp_path / "no-model", "--embeddings", tmp_path / "none.parquet",
        "--out", tmp_path / "notes.txt",
    )  # fmt: skip
    assert code == 2 and "notes.txt exists and is not a blindface embedding store" in output
    assert (tmp_path / "notes.txt").read_text() == "mine"


# -- killed runs and full disks ---------------------------------------------------------------


def test_a_killed_fits_temporaries_are_removed_by_the_next_run(tmp_path):
    store = labelled_store(tmp_path / "s.parquet")
    model = leace_model(tmp_path / "m", store)
    dead = 2**22 + 12345  # above pid_max: no such process
    (model / f"{TEMP_PREFIX}{dead}-weights.safetensors.x1y2").write_bytes(b"")  # old layout
    (tmp_path / f"{TEMP_PREFIX}{dead}-m.a1b2").mkdir()  # a killed write_folder
    code, _ = _run("fit", "--method", "leace", "--embeddings", store, "--out", model)
    assert code == 0 and not _leftovers(tmp_path)
    assert sorted(p.name for p in model.iterdir()) == ["config.json", "weights.safetensors"]


def test_a_full_disk_during_fit_audit_or_export_leaves_nothing(tmp_path, monkeypatch):
    store = labelled_store(tmp_path / "s.parquet", n=60, people=10)
    model = leace_model(tmp_path / "m", store)
    other = labelled_store(tmp_path / "t.parquet", n=60, people=10, first=100)
    sface_model = _sface_model(tmp_path)
    import blindface._io

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(blindface._io.os, "fsync", full)
    runs = {
        "fit": ("fit", "--method", "leace", "--embeddings", store, "--out", tmp_path / "new"),
        "audit": ("audit", "--embeddings", other, "--model", model, "--out", tmp_path / "aud",
                  "--no-tune", "--probes", "logreg", "--folds", "5", "--no-progress"),
        "export": ("export-recognizer", "--model", sface_model, "--out", tmp_path / "r.onnx"),
    }  # fmt: skip
    for name, args in runs.items():
        code, output = _run(*args)
        assert code == 2, (name, output)
        assert "No space left on device (it needs more than" in output, (name, output)
        assert "the partial output was removed" in output
    assert not (tmp_path / "new").exists() and not (tmp_path / "aud").exists()
    assert not (tmp_path / "r.onnx").exists() and not _leftovers(tmp_path)


def _sface_model(tmp_path: Path) -> Path:
    """A LEACE model on 128-d rows (the SFace width), fitted from arrays."""
    import numpy as np

    from blindface.blinding import LEACE

    X = np.random.default_rng(0).normal(size=(40, 128)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    expression = ["happy", "sad"] * 20
    return LEACE().fit(X, expression=expression).save(tmp_path / "sface-model")
