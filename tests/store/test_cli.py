"""`blindface embed`: the summary table (loader-skipped rows, totals) and the engine flags."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
from typer.testing import CliRunner

from blindface.cli import app


@pytest.mark.data
def test_embed_summary_shows_skipped_rows_and_totals(data_dir, tmp_path, monkeypatch):
    import blindface.datasets

    for image in sorted((data_dir / "jaffe" / "jaffedbase").glob("*.tiff"))[:4]:
        shutil.copy(image, tmp_path / image.name)
    paths = sorted(p.name for p in tmp_path.glob("*.tiff"))
    for name, chosen in (("a.csv", paths[:2]), ("b.csv", paths[2:])):
        pd.DataFrame({"path": chosen}).to_csv(tmp_path / name, index=False)
    real = blindface.datasets.load_manifest

    def loader_that_skipped_rows(name, **options):
        table = real(name, **options)
        table.attrs["skipped_rows"] = 3  # what the manifest loader reports (of missing files)
        return table

    monkeypatch.setattr(blindface.datasets, "load_manifest", loader_that_skipped_rows)
    out = tmp_path / "a.parquet"
    args = ["embed", str(tmp_path / "a.csv"), "--data-root", str(tmp_path), "--out", str(out)]
    result = CliRunner().invoke(app, [*args, "--jobs", "1", "--no-progress"])
    assert result.exit_code == 0, result.output
    # not a terminal: plain tab-separated lines, never a table wrapped at 80 columns
    assert [line.split("\t") for line in result.stdout.splitlines()] == [
        ["dataset", "images", "skipped rows", "detected", "retried", "fallback", "failed", "store"],
        [str(tmp_path / "a.csv"), "2", "3", "2", "0", "0", "0", str(out)],
    ]
    out.unlink()
    result = CliRunner().invoke(app, [*args, "--jobs", "1", "--no-progress", "--json"])
    assert json.loads(result.stdout)[0]["skipped rows"] == "3"


def test_summary_totals_several_stores(tmp_path):
    from rich.console import Console

    from blindface.cli._embed import _summary

    rows = [
        ("jaffe", 10, None, {"detected": 9, "failed": 1}, tmp_path / "j"),
        ("lfw", 5, 2, {"detected": 4, "fallback": 1}, tmp_path / "l"),
    ]
    console = Console(width=300, record=True)
    console.print(_summary(rows))
    assert _cells(console.export_text())[-1] == ["total", "15", "2", "13", "0", "1", "1", ""]


def _cells(text: str) -> list[list[str]]:
    """The cells of each row of a rich table."""
    lines = [line for line in text.splitlines() if "│" in line or "┃" in line]
    return [[cell.strip() for cell in line.replace("┃", "│").split("│")[1:-1]] for line in lines]


def test_unknown_engine_is_a_clear_error(tmp_path):
    (tmp_path / "x.jpg").write_bytes(b"not read: the engine is checked first")
    pd.DataFrame({"path": ["x.jpg"]}).to_csv(tmp_path / "m.csv", index=False)
    result = CliRunner().invoke(
        app,
        ["embed", str(tmp_path / "m.csv"), "--data-root", str(tmp_path), "--out",
         str(tmp_path / "s.parquet"), "--engine", "spark", "--no-progress"],
    )  # fmt: skip
    assert result.exit_code == 2 and "engine must be one of local, ray" in result.output
