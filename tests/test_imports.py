"""The lazy-import promise: ``import blindface`` and the command line start without PyTorch."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    "statement",
    [
        "import blindface",
        "import blindface.cli",  # every subcommand registered: `blindface --help` stays fast
        "import blindface.blinding; blindface.blinding.METHODS",
        "import blindface.datasets, blindface.store, blindface.evaluation",
    ],
)
def test_import_does_not_load_torch(statement):
    code = f"import sys; {statement}; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", f"{statement!r} imported torch"


def test_a_method_loads_torch_when_it_is_used():
    code = "import sys, blindface; blindface.SensitiveNets; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"  # the test above could not pass by accident
