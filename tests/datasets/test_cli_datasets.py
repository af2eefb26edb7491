"""``blindface datasets``."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from blindface.cli import app

runner = CliRunner()


@pytest.mark.data
def test_json_on_fixture(data_dir: Path) -> None:
    result = runner.invoke(app, ["datasets", "--data-root", str(data_dir), "--json"])
    assert result.exit_code == 0, result.output
    summaries = json.loads(result.stdout)
    assert {name: (s["images"], s["subjects"]) for name, s in summaries.items()} == {
        "jaffe": (213, 10),
        "ckplus": (981, 118),
        "lfw": (10_521, 3_343),
        "utkface": (6_000, None),
        "celeba": (6_270, 299),
        "taiwanese": (1_232, 29),
    }
    assert not any("warnings" in s for s in summaries.values())
    assert summaries["taiwanese"]["labels"]["expression"] == {
        "neutral": 78, "happy": 226, "sad": 197, "surprise": 182,
        "angry": 200, "disgust": 198, "fear": 151,
    }  # fmt: skip
    assert summaries["taiwanese"]["labels"]["ethnicity_group"] == {"east_asian": 1_232}
    assert summaries["jaffe"]["labels"]["expression"]["fear"] == 32
    assert summaries["ckplus"]["labels"]["expression"]["surprise"] == 249
    assert summaries["lfw"]["labels"]["expression"]["happy"] == 4_342
    assert summaries["utkface"]["labels"]["gender"] == {"female": 3_005, "male": 2_995}
    assert summaries["celeba"]["attributes"]["Smiling"] == 2_893
    assert summaries["celeba"]["attributes"]["Male"] == 2_488


@pytest.mark.data
def test_table_uses_env_default(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BLINDFACE_DATA", str(data_dir))
    result = runner.invoke(app, ["datasets"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "10,521" in result.stdout and "3,343" in result.stdout
    assert "Smiling 2,893" in result.stdout


def test_broken_dataset_is_reported(tmp_path: Path) -> None:
    (tmp_path / "celeba" / "img_celeba_crop").mkdir(parents=True)
    result = runner.invoke(app, ["datasets", "--data-root", str(tmp_path), "--json"])
    assert result.exit_code == 1
    error = json.loads(result.stdout)["celeba"]["error"]
    assert "found img_celeba_crop/ but no list_attr_celeba.txt" in error


def test_missing_data_root(tmp_path: Path) -> None:
    result = runner.invoke(app, ["datasets", "--data-root", str(tmp_path / "nowhere")])
    assert result.exit_code == 2
    assert "is not a folder" in result.stderr


def test_unreadable_class_folder_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for emotion, name in [("happy", "S010_006_00000013.png"), ("anger", "S011_001_00000005.png")]:
        (tmp_path / "ckplus48" / "CK+48" / emotion).mkdir(parents=True)
        (tmp_path / "ckplus48" / "CK+48" / emotion / name).write_bytes(b"")
    locked = tmp_path / "ckplus48" / "CK+48" / "happy"
    real_scandir = os.scandir

    def scandir(path):
        if Path(path) == locked:
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    result = runner.invoke(app, ["datasets", "--data-root", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)["ckplus"]
    assert summary["labels"]["expression"] == {"angry": 1}
    (message,) = summary["warnings"]
    assert f"{locked} is a folder that cannot be listed (Permission denied)" in message
    assert f"warning: ckplus: {message}" in result.stderr
