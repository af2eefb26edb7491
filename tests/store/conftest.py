"""One local Ray instance (2 CPUs) shared by every Ray test of the session."""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def ray_address():
    """Start Ray once; its workers import the blindface under test (an absolute PYTHONPATH,
    since a relative one means nothing in a worker's folder)."""
    ray = pytest.importorskip("ray")
    import blindface

    before = os.environ.get("PYTHONPATH")
    source = str(Path(blindface.__file__).resolve().parents[1])
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [source, before]))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # Ray's own, at start-up
            ray.init(
                num_cpus=2,
                include_dashboard=False,
                log_to_driver=False,
                configure_logging=True,
                logging_level=logging.ERROR,
                object_store_memory=256 * 2**20,
            )
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()
        if before is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = before
