"""The README's results are the committed full run's: a new run needs `make docs`."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

GENERATOR = Path(__file__).resolve().parents[1] / "docs" / "readme_results.py"


def _generator():
    spec = importlib.util.spec_from_file_location("readme_results", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_readme_holds_the_committed_results():
    generator = _generator()
    results = json.loads(generator.RESULTS.read_text(encoding="utf-8"))
    adaptation = json.loads(generator.ADAPTATION.read_text(encoding="utf-8"))
    readme = generator.README.read_text(encoding="utf-8")
    wanted = generator.rendered(readme, results, adaptation)
    assert readme == wanted, "run `make docs`: the README's results are stale"


def test_the_block_changes_with_the_results():
    generator = _generator()
    results = json.loads(generator.RESULTS.read_text(encoding="utf-8"))
    pooled = [dict(r) for r in results["pooled"]]
    assert pooled, "the committed run has no pooled rows"
    pooled[0]["diff"] = 12345.0
    assert generator.block({**results, "pooled": pooled}) != generator.block(results)
    adaptation = json.loads(generator.ADAPTATION.read_text(encoding="utf-8"))
    rows = [dict(r) for r in adaptation["rows"]]
    cells = {key: {**cell, "diff": 12345.0} for key, cell in rows[0]["cells"].items()}
    rows[0] = {**rows[0], "cells": cells}
    assert generator.adaptation_block({"rows": rows}) != generator.adaptation_block(adaptation)
