"""Dataset inputs that are not what they seem, one test per case (corpus built in tmp_path).

Each case ends either in a table where the bad row is kept or skipped with a warning that names
it (the rest intact), or in a clear error naming the file and the fix.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from blindface.cli import app
from blindface.datasets import (
    DatasetLayoutError,
    DatasetWarning,
    load_ckplus,
    load_dataset,
    load_lfw,
    load_manifest,
    read_label_map,
)

runner = CliRunner()


def make_files(root: Path, *paths: str) -> None:
    for path in paths:
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(b"\xff\xd8 not decoded")


def manifest(root: Path, text: str, name: str = "faces.csv", encoding: str = "utf-8") -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path


def only_warning(record: pytest.WarningsRecorder) -> str:
    assert len(record) == 1, [str(w.message) for w in record]
    return str(record[0].message)


# --- manifest encodings and headers -------------------------------------------------------


def test_bom_manifest(tmp_path: Path) -> None:
    make_files(tmp_path, "a.jpg", "b.jpg")
    path = manifest(tmp_path, "\ufeffpath,expression\na.jpg,happy\nb.jpg,sad\n")
    table = load_manifest(path)
    assert table["path"].tolist() == ["a.jpg", "b.jpg"]
    assert table["expression"].tolist() == ["happy", "sad"]


def test_crlf_manifest(tmp_path: Path) -> None:
    make_files(tmp_path, "a.jpg", "b.jpg")
    path = manifest(tmp_path, "path,expression,split\r\na.jpg,happy,train\r\nb.jpg,sad,test\r\n")
    table = load_manifest(path)
    assert table["split"].tolist() == ["train", "test"]
    assert table["expression"].tolist() == ["happy", "sad"]


def test_latin1_manifest(tmp_path: Path) -> None:
    make_files(tmp_path, "zoë/été.jpg", "b.jpg")
    text = "path,subject,expression\nzoë/été.jpg,Zoë,happy\nb.jpg,Björn,neutral\n"
    path = manifest(tmp_path, text, encoding="latin-1")
    with pytest.warns(DatasetWarning) as record:
        table = load_manifest(path)
    message = only_warning(record)
    assert f"manifest {path} is not UTF-8 (byte 0xeb at offset 26)" in message
    assert "read as Latin-1" in message and "save it as UTF-8" in message
    assert table["subject"].tolist() == ["Zoë", "Björn"]
    assert table["path"].tolist() == ["zoë/été.jpg", "b.jpg"]


def test_utf16_manifest_is_refused(tmp_path: Path) -> None:
    make_files(tmp_path, "a.jpg")
    path = manifest(tmp_path, "path,expression\na.jpg,happy\n", encoding="utf-16")
    with pytest.raises(DatasetLayoutError) as error:
        load_manifest(path)
    assert str(error.value).startswith(f"manifest {path} is not UTF-8 or Latin-1 text")
    assert "UTF-16" in str(error.value) and "save it as UTF-8" in str(error.value)


def test_duplicate_columns(tmp_path: Path) -> None:
    make_files(tmp_path, "a.jpg")
    path = manifest(tmp_path, "path,expression,subject,expression\na.jpg,happy,p1,sad\n")
    with pytest.raises(DatasetLayoutError) as error:
        load_manifest(path)
    assert f"manifest {path}: duplicate column names ['expression']" in str(error.value)
    assert "give every column its own name" in str(error.value)


# --- paths that leave the root ---------------------------------------------------------------


def test_path_escape_dotdot(tmp_path: Path) -> None:
    make_files(tmp_path, "secret.jpg", "data/a.jpg")
    path = manifest(tmp_path / "data", "path\na.jpg\nsub/../../secret.jpg\n")
    with pytest.raises(DatasetLayoutError) as error:
        load_manifest(path)
    message = str(error.value)
    assert f"manifest {path}: 1 paths leave the root {tmp_path / 'data'}" in message
    assert "line 3 'sub/../../secret.jpg' ('..' climbs above the root)" in message
    assert "--allow-outside-root" in message


def test_dotdot_that_stays_inside_is_fine(tmp_path: Path) -> None:
    make_files(tmp_path, "data/a.jpg")
    (tmp_path / "data" / "sub").mkdir()
    path = manifest(tmp_path / "data", "path\nsub/../a.jpg\n")
    assert load_manifest(path)["path"].tolist() == ["sub/../a.jpg"]


def test_absolute_path(tmp_path: Path) -> None:
    make_files(tmp_path, "elsewhere/x.jpg", "data/a.jpg")
    absolute = (tmp_path / "elsewhere" / "x.jpg").as_posix()
    path = manifest(tmp_path / "data", f"path\na.jpg\n{absolute}\nC:\\faces\\y.jpg\n")
    with pytest.raises(DatasetLayoutError) as error:
        load_manifest(path)
    message = str(error.value)
    assert "2 paths leave the root" in message
    assert f"line 3 '{absolute}' (an absolute path)" in message
    assert "line 4 'C:/faces/y.jpg' (an absolute path)" in message


def test_allow_outside_root(tmp_path: Path) -> None:
    make_files(tmp_path, "elsewhere/x.jpg", "data/a.jpg")
    absolute = (tmp_path / "elsewhere" / "x.jpg").as_posix()
    path = manifest(tmp_path / "data", f"path\na.jpg\n{absolute}\n../elsewhere/x.jpg\n")
    table = load_manifest(path, allow_outside_root=True)
    assert table["path"].tolist() == ["a.jpg", absolute, "../elsewhere/x.jpg"]
    root = Path(table.attrs["root"])
    assert all((root / p).is_file() for p in table["path"])


def test_root_override_resolves_paths(tmp_path: Path) -> None:
    make_files(tmp_path, "images/a.jpg", "lists/a.jpg")
    path = manifest(tmp_path / "lists", "path\na.jpg\n")
    assert load_manifest(path).attrs["root"] == str(tmp_path / "lists")
    table = load_manifest(path, root=tmp_path / "images")
    assert table.attrs == {"root": str(tmp_path / "images"), "skipped_rows": 0}


# --- rows that are not image files -----------------------------------------------------------


def test_unicode_names(tmp_path: Path) -> None:
    make_files(tmp_path / "list", "Zoë_Ünal/Zoë_Ünal_0001.jpg", "李/李_0001.jpg")
    path = manifest(
        tmp_path / "list",
        "path,subject\nZoë_Ünal/Zoë_Ünal_0001.jpg,Zoë Ünal\n李/李_0001.jpg,李\n",
    )
    table = load_manifest(path)
    assert table["subject"].tolist() == ["Zoë Ünal", "李"]
    make_files(tmp_path / "data", "lfw/lfw/Zoë_Ünal/Zoë_Ünal_0001.jpg", "lfw/lfw/李/李_0001.jpg")
    (tmp_path / "data" / "lfw" / "expressions.csv").write_text(
        "image,emotion\nZoë_Ünal/Zoë_Ünal_0001.jpg,happiness\n", encoding="utf-8"
    )
    lfw = load_lfw(tmp_path / "data")
    assert lfw["path"].tolist() == [
        "lfw/lfw/Zoë_Ünal/Zoë_Ünal_0001.jpg",
        "lfw/lfw/李/李_0001.jpg",
    ]
    assert lfw["subject"].tolist() == ["Zoë_Ünal", "李"]
    assert lfw["expression"].tolist() == ["happy", pd.NA]


def test_directory_row(tmp_path: Path) -> None:
    make_files(tmp_path, "a.jpg", "b.jpg")
    (tmp_path / "folder.jpg").mkdir()
    path = manifest(tmp_path, "path\na.jpg\nfolder.jpg\nb.jpg\n")
    with pytest.warns(DatasetWarning) as record:
        table = load_manifest(path)
    message = only_warning(record)
    assert "1 manifest rows" in message and "line 3 'folder.jpg' (a folder)" in message
    assert "embedding records them as failed" in message
    assert table["path"].tolist() == ["a.jpg", "folder.jpg", "b.jpg"]
    assert table.attrs["skipped_rows"] == 0


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_fifo_row(tmp_path: Path) -> None:
    make_files(tmp_path, "a.jpg")
    os.mkfifo(tmp_path / "pipe.jpg")
    path = manifest(tmp_path, "path\npipe.jpg\na.jpg\n")
    with pytest.warns(DatasetWarning) as record:
        table = load_manifest(path)
    assert "line 2 'pipe.jpg' (a FIFO (named pipe))" in only_warning(record)
    assert table["path"].tolist() == ["pipe.jpg", "a.jpg"]


def test_broken_symlink_row(tmp_path: Path) -> None:
    make_files(tmp_path, "a.jpg")
    (tmp_path / "link.jpg").symlink_to(tmp_path / "gone.jpg")
    path = manifest(tmp_path, "path\na.jpg\nlink.jpg\nmissing.jpg\n")
    with pytest.warns(DatasetWarning) as record:
        table = load_manifest(path)
    messages = [str(w.message) for w in record]
    assert len(messages) == 2
    assert (
        "skipped 1 manifest rows of faces.csv whose image does not exist (missing.jpg)"
        in (messages[0])
    )
    assert f"line 3 'link.jpg' (a broken symbolic link to {tmp_path / 'gone.jpg'})" in (messages[1])
    assert table["path"].tolist() == ["a.jpg", "link.jpg"]
    assert table.attrs["skipped_rows"] == 1


# --- dataset folders that cannot be read -----------------------------------------------------


def ck48(root: Path) -> None:
    make_files(
        root,
        "CK+48/happy/S010_006_00000013.png",
        "CK+48/anger/S011_001_00000005.png",
        "CK+48/sadness/S012_002_00000009.png",
    )


def test_unreadable_folder(tmp_path: Path) -> None:
    ck48(tmp_path)
    locked = tmp_path / "CK+48" / "happy"
    locked.chmod(0)
    try:
        if os.access(locked, os.R_OK):
            pytest.skip("running as root: the folder stays readable")
        with pytest.warns(DatasetWarning) as record:
            table = load_ckplus(tmp_path)
    finally:
        locked.chmod(0o755)
    message = only_warning(record)
    assert f"{locked} is a folder that cannot be listed (Permission denied)" in message
    assert f"chmod -R a+rX '{locked}'" in message
    assert table["expression"].tolist() == ["angry", "sad"]


def test_unreadable_folder_even_as_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ck48(tmp_path)
    locked = tmp_path / "CK+48" / "happy"
    real_scandir = os.scandir

    def scandir(path):
        if Path(path) == locked:
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    with pytest.warns(DatasetWarning) as record:
        table = load_dataset("ckplus", tmp_path)
    message = only_warning(record)
    assert message.startswith("1 dataset entries could not be read, so their images are missing")
    assert f"{locked} is a folder that cannot be listed (Permission denied)" in message
    assert table["expression"].tolist() == ["angry", "sad"]


def test_broken_symlink_in_dataset(tmp_path: Path) -> None:
    ck48(tmp_path)
    link = tmp_path / "CK+48" / "happy" / "S010_006_00000014.png"
    link.symlink_to(tmp_path / "moved" / "S010_006_00000014.png")
    with pytest.warns(DatasetWarning) as record:
        table = load_ckplus(tmp_path)
    message = only_warning(record)
    assert f"{link} is a broken symbolic link to {tmp_path / 'moved'}" in message
    assert "restore its target or remove the link" in message
    assert len(table) == 3


def test_unreadable_dataset_folder_explains_layout_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_files(tmp_path, "jaffe/jaffedbase/KA.HA1.29.tiff")
    locked = tmp_path / "jaffe" / "jaffedbase"
    real_scandir = os.scandir

    def scandir(path):
        if Path(path) == locked:
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    with pytest.raises(DatasetLayoutError) as error:
        load_dataset("jaffe", tmp_path)
    message = str(error.value)
    assert "found no JAFFE image files" in message
    assert f"{locked} is a folder that cannot be listed (Permission denied)" in message


# --- labels ----------------------------------------------------------------------------------


def test_unknown_labels_warn_with_counts(tmp_path: Path) -> None:
    make_files(tmp_path, "1.jpg", "2.jpg", "3.jpg", "4.jpg")
    path = manifest(tmp_path, "path,expression\n1.jpg,grumpy\n2.jpg,Grumpy\n3.jpg,meh\n4.jpg,joy\n")
    with pytest.warns(DatasetWarning) as record:
        table = load_manifest(path)
    message = only_warning(record)
    assert f"3 expression labels in {path} are not known" in message
    assert "'grumpy' x1, 'Grumpy' x1, 'meh' x1" in message
    assert "--label-map FILE" in message
    assert table["expression"].tolist() == [pd.NA, pd.NA, pd.NA, "happy"]
    assert table["expression_source"].tolist() == ["grumpy", "Grumpy", "meh", "joy"]


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("map.csv", "raw,expression\ngrumpy,anger\nMeh,neutral\n"),
        ("map.json", '{"grumpy": "angry", "meh": "Neutral"}'),
    ],
)
def test_label_map_file(tmp_path: Path, name: str, text: str) -> None:
    make_files(tmp_path, "1.jpg", "2.jpg", "3.jpg")
    (tmp_path / name).write_text(text)
    label_map = read_label_map(tmp_path / name)
    assert {k.lower(): v for k, v in label_map.items()} == {"grumpy": "angry", "meh": "neutral"}
    path = manifest(tmp_path, "path,expression\n1.jpg,Grumpy\n2.jpg,meh\n3.jpg,sad\n")
    table = load_manifest(path, label_map=label_map)
    assert table["expression"].tolist() == ["angry", "neutral", "sad"]


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("map.csv", "raw,expression\ngrumpy,cranky\n", "line 2: 'grumpy' -> 'cranky'"),
        ("map.csv", "label,target\ngrumpy,angry\n", "not the header raw,expression"),
        ("map.csv", "raw,expression\ngrumpy\n", "lines [2] do not have 2 fields"),
        ("map.csv", "raw,expression\ngrumpy,angry\nGRUMPY,sad\n", "'GRUMPY' (line 3) maps onto"),
        ("map.json", '{"grumpy": "angry",}', "not valid JSON"),
        ("map.json", '["grumpy", "angry"]', "the JSON is a list, not an object"),
        ("map.json", '{"grumpy": 3}', "key 'grumpy': 'grumpy' -> 3"),
        ("map.json", "{}", "the file maps no labels"),
    ],
)
def test_bad_label_map_file(tmp_path: Path, name: str, text: str, message: str) -> None:
    (tmp_path / name).write_text(text)
    with pytest.raises(DatasetLayoutError) as error:
        read_label_map(tmp_path / name)
    assert str(error.value).startswith(f"label map {tmp_path / name}: ")
    assert message in str(error.value)
    assert "expected a CSV with the header raw,expression" in str(error.value)


def test_missing_label_map_file(tmp_path: Path) -> None:
    with pytest.raises(DatasetLayoutError, match=r"label map .*nowhere\.csv does not exist"):
        read_label_map(tmp_path / "nowhere.csv")


def test_ckplus_emotion_file_with_nan_inf_and_garbage(tmp_path: Path) -> None:
    emotion = "ckplus/Emotion/{0}/{1}/{0}_{1}_00000003_emotion.txt"
    for subject, text in [
        ("S005", "   3.0000000e+00\n"),
        ("S006", "   nan\n"),
        ("S007", "inf"),
        ("S008", "happy-ish"),
        ("S009", ""),
    ]:
        make_files(tmp_path, *(f"ckplus/cohn-kanade-images/{subject}/001/"
                               f"{subject}_001_{k:08d}.png" for k in (1, 2, 3)))  # fmt: skip
        (tmp_path / emotion.format(subject, "001")).parent.mkdir(parents=True)
        (tmp_path / emotion.format(subject, "001")).write_text(text)
    (tmp_path / emotion.format("S010", "001")).parent.mkdir(parents=True)
    (tmp_path / emotion.format("S010", "001")).write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff")
    with pytest.warns(DatasetWarning) as record:
        table = load_ckplus(tmp_path)
    message = only_warning(record)
    assert message.startswith(f"skipped 5 CK+ emotion files of {tmp_path / 'ckplus/Emotion'}")
    assert "S006/001/S006_001_00000003_emotion.txt (holds 'nan', not a code 0-7)" in message
    assert "S007/001/S007_001_00000003_emotion.txt (holds 'inf', not a code 0-7)" in message
    assert "S008/001/S008_001_00000003_emotion.txt (holds 'happy-ish', not a number)" in message
    assert "S009/001/S009_001_00000003_emotion.txt (holds '', not a number)" in message
    assert "S010/001/S010_001_00000003_emotion.txt (cannot be read: not ASCII text)" in message
    assert "fix or remove these files" in message
    assert table["sequence"].unique().tolist() == ["S005_001"]
    assert table["expression"].tolist() == ["neutral", "disgust"]


def test_latin1_lfw_expressions_csv(tmp_path: Path) -> None:
    make_files(tmp_path, "lfw/lfw/José_Ñúñez/José_Ñúñez_0001.jpg", "lfw/lfw/Ann/Ann_0001.jpg")
    labels = tmp_path / "lfw" / "expressions.csv"
    labels.write_bytes(
        "image,emotion\nJosé_Ñúñez/José_Ñúñez_0001.jpg,HAPPINESS\nAnn/Ann_0001.jpg,sadness\n"
        .encode("latin-1")
    )  # fmt: skip
    with pytest.warns(DatasetWarning) as record:
        table = load_lfw(tmp_path)
    message = only_warning(record)
    assert f"LFW labels {labels} is not UTF-8" in message and "read as Latin-1" in message
    assert table["subject"].tolist() == ["Ann", "José_Ñúñez"]
    assert table["expression"].tolist() == ["sad", "happy"]


# --- blindface embed: manifest flags (nothing is embedded) -----------------------------------


@pytest.fixture
def no_embedding(monkeypatch: pytest.MonkeyPatch) -> list[tuple[pd.DataFrame, str]]:
    """Replace the embedding step: record its table and root, then stop with an error."""
    import blindface.store

    calls: list[tuple[pd.DataFrame, str]] = []

    def embed_dataset(table: pd.DataFrame, data_root: str, out: str, **_: object) -> None:
        calls.append((table, str(data_root)))
        raise ValueError("stopped before embedding")

    monkeypatch.setattr(blindface.store, "embed_dataset", embed_dataset)
    return calls


def test_embed_refuses_path_escape(tmp_path: Path, no_embedding: list) -> None:
    make_files(tmp_path, "secret.jpg", "data/a.jpg")
    path = manifest(tmp_path / "data", "path\na.jpg\n../secret.jpg\n")
    result = runner.invoke(app, ["embed", str(path), "--out", str(tmp_path / "out.parquet")])
    assert result.exit_code == 2
    assert f"error: manifest {path}: 1 paths leave the root" in result.stderr
    assert "line 3 '../secret.jpg'" in result.stderr and "--allow-outside-root" in result.stderr
    assert no_embedding == []


def test_embed_allow_outside_root_and_manifest_folder(tmp_path: Path, no_embedding: list) -> None:
    make_files(tmp_path, "secret.jpg", "data/a.jpg")
    path = manifest(tmp_path / "data", "path,expression\na.jpg,grumpy\n../secret.jpg,meh\n")
    (tmp_path / "map.json").write_text(json.dumps({"grumpy": "angry", "meh": "neutral"}))
    result = runner.invoke(
        app,
        ["embed", str(path), "--out", str(tmp_path / "out.parquet"), "--allow-outside-root",
         "--label-map", str(tmp_path / "map.json")],
        env={"BLINDFACE_DATA": str(tmp_path / "elsewhere")},
    )  # fmt: skip
    assert result.exit_code == 2 and "stopped before embedding" in result.stderr
    ((table, root),) = no_embedding
    assert root == str(tmp_path / "data")  # the manifest's folder, not $BLINDFACE_DATA
    assert table["path"].tolist() == ["a.jpg", "../secret.jpg"]
    assert table["expression"].tolist() == ["angry", "neutral"]


def test_embed_data_root_overrides_manifest_folder(tmp_path: Path, no_embedding: list) -> None:
    make_files(tmp_path, "images/a.jpg")
    path = manifest(tmp_path / "lists", "path\na.jpg\n")
    out = str(tmp_path / "out.parquet")
    result = runner.invoke(
        app, ["embed", str(path), "--out", out, "--data-root", str(tmp_path / "images")]
    )
    assert result.exit_code == 2 and "stopped before embedding" in result.stderr
    assert no_embedding[0][1] == str(tmp_path / "images")


def test_embed_bad_label_map(tmp_path: Path, no_embedding: list) -> None:
    make_files(tmp_path, "a.jpg")
    path = manifest(tmp_path, "path,expression\na.jpg,grumpy\n")
    (tmp_path / "map.csv").write_text("raw,expression\ngrumpy,cranky\n")
    result = runner.invoke(
        app,
        ["embed", str(path), "--out", str(tmp_path / "o.parquet"), "--label-map",
         str(tmp_path / "map.csv")],
    )  # fmt: skip
    assert result.exit_code == 2
    assert f"error: label map {tmp_path / 'map.csv'}: 1 entries do not map" in result.stderr
    assert no_embedding == []


def test_embed_manifest_flags_need_a_manifest(tmp_path: Path, no_embedding: list) -> None:
    result = runner.invoke(
        app, ["embed", "jaffe", "--out", str(tmp_path / "o.parquet"), "--allow-outside-root"]
    )
    assert result.exit_code == 2
    assert "--label-map and --allow-outside-root apply to CSV manifests only" in result.stderr
    assert no_embedding == []
