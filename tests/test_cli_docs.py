"""docs/cli/*.md are the command line's own --help: a changed command needs `make docs`."""

from __future__ import annotations

import importlib.util
from pathlib import Path

GENERATOR = Path(__file__).resolve().parents[1] / "docs" / "cli" / "generate.py"


def _generator():
    spec = importlib.util.spec_from_file_location("generate_cli_docs", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_committed_pages_are_the_generated_ones():
    generator = _generator()
    wanted = generator.pages()
    committed = {p.name: p.read_text(encoding="utf-8") for p in generator.FOLDER.glob("*.md")}
    assert set(committed) == set(wanted), "run `make docs`: pages are missing or stale"
    stale = [name for name, text in wanted.items() if committed[name] != text]
    assert not stale, f"run `make docs`: {stale} differ from the command line's --help"
    assert {f"{name}.md" for name in generator.commands()} <= set(wanted)
