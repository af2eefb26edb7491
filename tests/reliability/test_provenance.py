"""One embedder per model (a dlib store blinded by an SFace-fitted model runs and returns
nonsense); a blinded store is not blinded twice by accident; overlapping people are said; and
audit refuses folds, people and probes it cannot use, before any probe is fitted."""

from __future__ import annotations

import json
import warnings

import pytest
from typer.testing import CliRunner

import blindface
from blindface._provenance import EmbedderMismatchError, OverlapWarning
from blindface.audit import audit
from blindface.blinding import ModelError
from blindface.cli import app
from blindface.pipelines import fit_stores, transform_store

from ._hostile import DLIB, OTHER_ONNX, SFACE, labelled_store, leace_model


def _run(*args) -> tuple[int, str]:
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert "Traceback" not in result.output
    return result.exit_code, " ".join(result.output.split())


@pytest.mark.parametrize("other", [DLIB, OTHER_ONNX], ids=["dlib", "another-onnx"])
def test_fit_refuses_stores_of_two_embedders(tmp_path, other):
    sface = labelled_store(tmp_path / "sface.parquet")
    theirs = labelled_store(tmp_path / "other.parquet", embedder=other, first=100)
    code, output = _run(
        "fit", "--method", "leace", "--embeddings", sface, "--embeddings", theirs,
        "--out", tmp_path / "m",
    )  # fmt: skip
    assert code == 2 and "sface.parquet holds sface" in output and "other.parquet" in output
    assert "--allow-embedder-mismatch" in output and not (tmp_path / "m").exists()
    code, _ = _run(
        "fit", "--method", "leace", "--embeddings", sface, "--embeddings", theirs,
        "--out", tmp_path / "m", "--allow-embedder-mismatch",
    )  # fmt: skip
    assert code == 0 and blindface.load(tmp_path / "m").fitted_on_["embedder"] is None


def test_transform_and_audit_refuse_another_embedders_store(tmp_path):
    model = leace_model(tmp_path / "m", labelled_store(tmp_path / "sface.parquet"))
    assert blindface.load(model).fitted_on_["embedder"]["embedder"] == "sface"
    dlib = labelled_store(tmp_path / "dlib.parquet", embedder=DLIB, n=60, people=10, first=50)
    code, output = _run(
        "transform", "--model", model, "--embeddings", dlib, "--out", tmp_path / "b.parquet"
    )  # fmt: skip
    assert code == 2 and "was fitted on sface" in output and "dlib.parquet holds dlib" in output
    assert "they differ in embedder; weights; settings chip, crop" in output
    assert not (tmp_path / "b.parquet").exists()
    code, output = _run(
        "audit", "--embeddings", dlib, "--model", model, "--out", tmp_path / "a",
        "--no-tune", "--probes", "logreg", "--no-progress",
    )  # fmt: skip
    assert code == 2 and "the audited stores hold dlib" in output and not (tmp_path / "a").exists()
    code, _ = _run(
        "transform", "--model", model, "--embeddings", dlib, "--out", tmp_path / "b.parquet",
        "--allow-embedder-mismatch", "--no-progress",
    )  # fmt: skip
    assert code == 0


def test_execution_settings_do_not_make_another_embedder(tmp_path):
    """SFace on a GPU (torch backend, batches) is the same embedder as on the CPU."""
    model = leace_model(tmp_path / "m", labelled_store(tmp_path / "cpu.parquet"))
    gpu = {**SFACE, "settings": {**SFACE["settings"], "backend": "torch", "batch_size": 64}}
    store = labelled_store(tmp_path / "gpu.parquet", embedder=gpu, first=50)
    transform_store(model, store, tmp_path / "b.parquet", progress=False)


def test_a_blinded_store_is_not_blinded_again_unless_asked(tmp_path):
    store = labelled_store(tmp_path / "s.parquet")
    model = leace_model(tmp_path / "m", store)
    once = transform_store(model, store, tmp_path / "once.parquet", progress=False)
    code, output = _run("transform", "--model", model, "--embeddings", once, "--out",
                        tmp_path / "twice.parquet")  # fmt: skip
    assert code == 2 and "once.parquet is already blinded" in output
    code, _ = _run("transform", "--model", model, "--embeddings", once, "--out",
                   tmp_path / "twice.parquet", "--allow-blinded-input",
                   "--no-progress")  # fmt: skip
    assert code == 0


def test_overlapping_stores_are_said(tmp_path):
    first = labelled_store(tmp_path / "a.parquet")
    copy = tmp_path / "copy.parquet"
    copy.write_bytes(first.read_bytes())
    with pytest.warns(OverlapWarning, match=r"a.parquet and .*copy.parquet share 48 images"):
        fit_stores("leace", [first, copy], tmp_path / "m", progress=False)
    with pytest.warns(OverlapWarning, match=r"was fitted on .*a.parquet itself"):
        audit([first], [tmp_path / "m"], probes=("logreg",), tune=False, n_splits=2,
              n_bootstrap=10, threats=("population",))  # fmt: skip


def test_the_fitted_on_record_is_bounded_when_read(tmp_path):
    import hashlib

    import safetensors.numpy

    model = leace_model(tmp_path / "m", labelled_store(tmp_path / "s.parquet"))
    weights = model / "weights.safetensors"
    blob = weights.read_bytes()
    size = int.from_bytes(blob[:8], "little")
    metadata = json.loads(json.loads(blob[8 : 8 + size])["__metadata__"]["blindface"])
    metadata["fitted_on"]["stores"] = [{"name": "x" * 100_000, "digest": None}]
    blob = safetensors.numpy.save(
        safetensors.numpy.load(blob), metadata={"blindface": json.dumps(metadata)}
    )
    weights.write_bytes(blob)
    config = json.loads((model / "config.json").read_text())
    config["weights_sha256"] = hashlib.sha256(blob).hexdigest()
    (model / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelError, match="fitted_on.stores must hold"):
        blindface.load(model)


# -- audit inputs -----------------------------------------------------------------------------


@pytest.fixture()
def ten_people(tmp_path):
    return labelled_store(tmp_path / "ten.parquet", n=60, people=10)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--folds", "20"], "10 people, but a people-disjoint 20-fold audit needs at least 20"),
        (["--probes", "foo"], "unknown probes ['foo']: choose one or more of mlp, svm"),
        (["--probes", ","], "no probe given: choose one or more of"),
    ],
)
def test_audit_refuses_folds_and_probes_it_cannot_use(tmp_path, ten_people, args, message):
    code, output = _run(
        "audit", "--embeddings", ten_people, "--out", tmp_path / "a", "--no-tune",
        "--no-progress", *args,
    )  # fmt: skip
    assert code == 2 and message in output, output
    assert not (tmp_path / "a").exists()


def test_audit_with_every_image_its_own_person(tmp_path):
    own = labelled_store(tmp_path / "own.parquet", n=40, people=40)
    code, output = _run(
        "audit", "--embeddings", own, "--out", tmp_path / "a", "--no-tune", "--probes",
        "logreg", "--folds", "2", "--no-progress",
    )  # fmt: skip
    assert code == 2 and "every person has one image" in output and "--threat population" in output
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn's on 40 tiny rows
        code, output = _run(
            "audit", "--embeddings", own, "--out", tmp_path / "a", "--no-tune", "--probes",
            "logreg", "--folds", "2", "--threat", "population", "--no-progress",
        )  # fmt: skip
    assert code == 0, output


def test_embedder_mismatch_is_a_value_error_for_python_callers(tmp_path):
    model = leace_model(tmp_path / "m", labelled_store(tmp_path / "sface.parquet"))
    dlib = labelled_store(tmp_path / "dlib.parquet", embedder=DLIB)
    with pytest.raises(EmbedderMismatchError, match="dlib.parquet holds dlib"):
        transform_store(model, dlib, tmp_path / "b.parquet", progress=False)
