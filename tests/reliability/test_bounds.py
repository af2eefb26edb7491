"""Bounded resources: a small hostile file never costs gigabytes, never hangs, never recurses
without end; hyper-parameters out of their declared ranges are refused before any work."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

import blindface
from blindface.blinding import LEACE, METHODS, ModelError, all_methods
from blindface.blinding._params import ParamError, declared_params
from blindface.cli import app
from blindface.datasets import DatasetLayoutError, read_label_map
from blindface.pipelines import fit_stores
from blindface.store import StoreError, read_store

from ._hostile import (
    bomb_store,
    deep_json,
    huge_onnx,
    labelled_store,
    leace_model,
    rewrite_labels,
    unit_rows,
)

HERE = Path(__file__).parent


# -- model metadata ---------------------------------------------------------------------------


def test_a_model_holding_a_huge_label_is_refused_naming_the_file(tmp_path):
    """One 1,000,000-character label among 1,000 short ones (checksum recomputed): NumPy would
    store every label at that width (4 GB); the loader refuses it."""
    model = leace_model(tmp_path / "m", labelled_store(tmp_path / "s.parquet"))
    rewrite_labels(model, ["x" * 1_000_000, *(f"l{i}" for i in range(1_000))])
    with pytest.raises(ModelError, match=r"weights.safetensors: .* label of 1,000,000 characters"):
        blindface.load(model)
    result = CliRunner().invoke(
        app,
        ["transform", "--model", str(model), "--embeddings", str(tmp_path / "s.parquet"),
         "--out", str(tmp_path / "b.parquet"), "--no-progress"],
    )  # fmt: skip
    assert result.exit_code == 2 and "1,000,000 characters" in result.output
    assert not (tmp_path / "b.parquet").exists()


def test_a_model_holding_too_many_labels_is_refused(tmp_path):
    model = leace_model(tmp_path / "m")
    # one label at the width limit among 70,000 short ones: NumPy stores 70,001 x 256 cells
    rewrite_labels(model, ["x" * 256, *(f"{i}" for i in range(70_000))])
    with pytest.raises(ModelError, match="70,001 labels of up to 256 characters"):
        blindface.load(model)


# -- stores -----------------------------------------------------------------------------------


def test_a_store_that_decompresses_to_far_more_than_a_store_holds_is_refused(tmp_path):
    """A few kB on disk, 100 MB of strings once decompressed: refused from the footer, before
    a byte of it is inflated, by every command."""
    store = bomb_store(tmp_path / "bomb.parquet", rows=100, cell_bytes=1_000_000)
    assert store.stat().st_size < 100_000
    with pytest.raises(StoreError, match=r"bomb.parquet: row group 0 decompresses to 95 MiB"):
        read_store(store)
    result = CliRunner().invoke(
        app,
        ["transform", "--model", str(leace_model(tmp_path / "m")), "--embeddings", str(store),
         "--out", str(tmp_path / "b.parquet"), "--no-progress"],
    )  # fmt: skip
    assert result.exit_code == 2 and "bomb.parquet" in result.output
    assert "Traceback" not in result.output


def test_fit_and_audit_read_only_the_columns_they_need(tmp_path):
    store = labelled_store(tmp_path / "s.parquet", notes=["n" * 1000] * 48, age=[30.0] * 48)
    table = read_store(store, columns=["subject", "expression"]).table
    assert "notes" not in table and "age" not in table and "subject" in table
    fitted = fit_stores("leace", store, tmp_path / "m", progress=False)
    assert fitted.rows == 48


# -- special files ----------------------------------------------------------------------------

_CHILD = """
import json, resource, signal, sys
from pathlib import Path

sys.path.insert(0, sys.argv[2])
resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))  # /dev/zero read whole: MemoryError

def hang(*_):
    raise TimeoutError("hangs")

signal.signal(signal.SIGALRM, hang)
from blindface.blinding.formats._persistence import read_model
from blindface.datasets import load_manifest, read_label_map
from blindface.store import read_store

root = Path(sys.argv[1])
readers = {
    "manifest": lambda p: load_manifest(p),
    "label map": lambda p: read_label_map(p),
    "model config": lambda p: read_model(p.parent, {}),
    "store file": lambda p: read_store(p),
    "store manifest": lambda p: read_store(p.parent),
}
for case in sorted(root.glob("*/*/*")):
    signal.alarm(10)
    try:
        readers[case.parent.name.replace("_", " ")](case)
        outcome = "no error"
    except (TimeoutError, MemoryError) as error:
        outcome = type(error).__name__
    except Exception as error:
        outcome = f"{type(error).__name__}: {error}"
    finally:
        signal.alarm(0)
    print(json.dumps([str(case), outcome]), flush=True)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="FIFOs and /dev/zero")
def test_special_files_are_refused_not_read(tmp_path):
    """A FIFO, or a link to /dev/zero, given as any file blindface reads whole: a clear error
    naming it, never a hang nor a read until memory runs out (run in a child with a memory
    limit and a 10 s alarm per case, so a regression fails instead of taking the machine)."""
    names = {
        "manifest": "m.csv",
        "label_map": "map.json",
        "model_config": "config.json",
        "store_file": "s.parquet",
        "store_manifest": "_blindface.json",
    }
    for kind in ("fifo", "zero"):
        for reader, name in names.items():
            folder = tmp_path / kind / reader
            folder.mkdir(parents=True)
            if kind == "fifo":
                import os

                os.mkfifo(folder / name)
            else:
                (folder / name).symlink_to("/dev/zero")
    child = subprocess.run(
        [sys.executable, "-c", _CHILD, str(tmp_path), str(HERE)],
        capture_output=True,
        text=True,
        timeout=240,
    )
    outcomes = dict(json.loads(line) for line in child.stdout.splitlines())
    assert len(outcomes) == 10, child.stderr[-2000:]
    for case, outcome in outcomes.items():
        assert outcome.split(":")[0] in {"DatasetLayoutError", "ModelError", "StoreError"}, (
            case,
            outcome,
        )
        assert Path(case).name in outcome and ("FIFO" in outcome or "device" in outcome), outcome


# -- JSON -------------------------------------------------------------------------------------


def test_json_nested_100_000_deep_is_a_clear_error_everywhere(tmp_path):
    """Model config, store manifest, store footer, label map, --param: one depth limit."""
    deep = deep_json()
    model = leace_model(tmp_path / "m")
    (model / "config.json").write_text(deep)
    with pytest.raises(ModelError, match="nests 100000 levels deep"):
        blindface.load(model)

    parts = tmp_path / "parts"
    labelled_store(tmp_path / "single.parquet")
    from blindface.store import write_store

    single = read_store(tmp_path / "single.parquet")
    write_store(parts, single.table.drop(columns=["face_status", "face_reason", "content_hash"]),
                single.embeddings, partitioned=True)  # fmt: skip
    (parts / "_blindface.json").write_text(deep)
    with pytest.raises(StoreError, match="_blindface.json: its JSON nests 100000 levels deep"):
        read_store(parts)

    (tmp_path / "map.json").write_text(deep)
    with pytest.raises(DatasetLayoutError, match="map.json: it: its JSON nests 100000"):
        read_label_map(tmp_path / "map.json")

    result = CliRunner().invoke(
        app, ["fit", "--method", "within_subject", "--embeddings", str(tmp_path / "single.parquet"),
              "--out", str(tmp_path / "w"), "--param", "n_components=" + "[" * 2000]
    )  # fmt: skip
    assert result.exit_code == 2 and "n_components" in result.output
    assert "RecursionError" not in result.output and not (tmp_path / "w").exists()


def test_a_store_footer_nested_too_deep_is_a_store_error(tmp_path):
    import pyarrow.parquet as pq

    from blindface.store._format import METADATA_KEY

    path = labelled_store(tmp_path / "s.parquet")
    table = pq.read_table(path)
    deep = deep_json()
    pq.write_table(table.replace_schema_metadata({METADATA_KEY: deep.encode()}), path)
    with pytest.raises(StoreError, match=r"s.parquet: its blindface metadata: its JSON nests"):
        read_store(path)


# -- parameter ranges -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "param", "message"),
    [
        ("sensitivenets", "hidden_layer_sizes=1000000000", r"hidden_layer_sizes=\(1000000000,\)"),
        ("invariant", f"max_iter={10**12}", "max_iter=1000000000000 must be in"),
        ("lnl_frozen", "primary=age", "primary='age' must be one of"),
        ("inlp", "validation_fraction=1.5", r"validation_fraction=1.5 must be in \(0, 1\)"),
        ("leace", "max_iter=3", "LEACE has no parameter 'max_iter'"),
    ],
)
def test_parameters_out_of_range_are_refused_before_any_work(tmp_path, method, param, message):
    result = CliRunner().invoke(
        app,
        ["fit", "--method", method, "--embeddings", str(tmp_path / "not-read.parquet"),
         "--out", str(tmp_path / "m"), "--param", param],
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "not-read.parquet" not in result.output  # refused before the stores are opened
    assert re.search(message, _plain(result.output)), result.output


def _plain(output: str) -> str:
    """CLI output without the box typer draws around errors, on one line."""
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", output).split())


def test_one_policy_for_the_python_api_the_study_and_the_loader(tmp_path):
    X = unit_rows(24)
    with pytest.raises(ParamError, match=r"max_iter=1000000000000 must be in \[1, 1000\]"):
        METHODS["invariant"].create(max_iter=10**12).fit(X, expression=["a", "b"] * 12)
    with pytest.raises(ParamError, match="LEACE has no parameter 'random_state'"):
        fit_stores("leace", tmp_path / "x.parquet", tmp_path / "m", params={"random_state": 1})

    from blindface.study import Study
    from blindface.study._fitting import make_blinder
    from blindface.study._settings import QUICK

    settings = dataclasses.replace(QUICK, blinder_params={"leace": {"nope": 1}})
    study = Study(data_root=tmp_path, out=tmp_path / "o", settings_override=settings)
    with pytest.raises(ParamError, match="LEACE has no parameter 'nope'"):
        make_blinder("leace", {}, study)  # it used to drop unknown parameters silently

    model = LEACE().fit(X, expression=["a", "b"] * 12).save(tmp_path / "leace")
    config = json.loads((model / "config.json").read_text())
    config["params"]["svd_tol"] = -1.0
    (model / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelError, match=r"config.json: LEACE parameter svd_tol=-1.0 must be in"):
        blindface.load(model)


def test_every_costly_parameter_declares_a_range():
    """Every numeric or tuple parameter of every method has a range beside its __init__."""
    for name, method in all_methods().items():
        estimator = method.estimator
        hints = declared_params(estimator)
        ranged = set(getattr(estimator, "_param_ranges", {}))
        costly = {p for p, hint in hints.items() if "int" in str(hint) or "float" in str(hint)} - {
            "neutral"
        }  # a label: str | int
        assert costly <= ranged, (name, sorted(costly - ranged))


# -- ONNX -------------------------------------------------------------------------------------


def test_an_onnx_recognizer_declaring_a_huge_output_is_refused_before_it_runs(tmp_path):
    """Declared N x 100,000,000 floats: refused from the declaration (running it would
    allocate 400 MB per face)."""
    from blindface.faces import get_embedder
    from blindface.faces._onnx import OnnxModelError

    huge_onnx(tmp_path / "huge.onnx", 100_000_000)
    with pytest.raises(
        OnnxModelError, match=r"huge.onnx: output 'embedding' is declared 1 x 100000000"
    ):
        get_embedder(f"onnx:{tmp_path / 'huge.onnx'}")


# -- Ray --------------------------------------------------------------------------------------

_RAY_CHILD = """
import socket, sys, threading, time
import blindface.store._ray as engine

engine.CONNECT_TIMEOUT_S = 3.0
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(8)
threading.Thread(target=lambda: [listener.accept() for _ in range(64)], daemon=True).start()
closed = socket.socket()
closed.bind(("127.0.0.1", 0))
port = closed.getsockname()[1]
closed.close()
for address in (f"127.0.0.1:{port}", f"127.0.0.1:{listener.getsockname()[1]}", "nonsense"):
    start = time.monotonic()
    try:
        with engine.ray_session(address, num_cpus=1):
            print("joined", address)
    except ConnectionError as error:
        print(f"{time.monotonic() - start:.1f}", error, flush=True)
"""


@pytest.mark.ray
def test_an_unreachable_ray_address_is_a_clear_error_in_time():
    pytest.importorskip("ray")
    child = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_RAY_CHILD)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = child.stdout.splitlines()
    assert len(lines) == 3, child.stdout + child.stderr[-2000:]
    refused, silent, malformed = lines
    assert "cannot reach the Ray cluster" in refused and float(refused.split()[0]) < 3
    assert "within 3 s" in silent and float(silent.split()[0]) < 10
    assert "is not host:port" in malformed
