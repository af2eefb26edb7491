"""The Ray Data engine: a Ray session, and embedding images with ``map_batches`` on an actor
pool (:mod:`blindface.pipelines` blinds a store on the same engine).

Each actor builds its embedder once, from its registry name and options, checked to have the
driver's settings (as the local worker processes do). The driver keeps what makes a run
resumable and a store trustworthy: it writes the cache chunks as results stream back, and the
partitioned store at the end, through :mod:`blindface._io`. Paths must be visible to every
actor at the same place (on one machine they are; on a cluster, use shared storage).
"""

from __future__ import annotations

import logging
import socket
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pyarrow as pa

from blindface.faces import (
    Embedder,
    EmbedderError,
    check_embedder_name,
    embed_files,
    embedder_factory,
)
from blindface.store._cache import Entry
from blindface.store._format import decode_embeddings, store_columns, store_fields

#: Object store of a local Ray instance: enough for the streamed batches, small on a laptop.
LOCAL_OBJECT_STORE_BYTES = 512 * 2**20
#: How long joining a cluster (``--address``) may take before it is an error.
CONNECT_TIMEOUT_S = 30.0
INSTALL_HINT = 'the ray engine needs Ray: pip install "blindface[ray]"'


@contextmanager
def ray_session(address: str | None, num_cpus: int) -> Iterator[Any]:
    """Ray, initialised: the running instance if there is one, else ``address`` joined (within
    :data:`CONNECT_TIMEOUT_S`, else a :class:`ConnectionError`) or a quiet local instance of
    ``num_cpus`` CPUs (no dashboard), shut down afterwards."""
    try:  # lazy: Ray is an optional extra, and slow to import
        import ray
        import ray.data
    except ModuleNotFoundError:
        raise ModuleNotFoundError(INSTALL_HINT) from None
    if ray.is_initialized():
        yield ray
        return
    quiet = {"log_to_driver": False, "configure_logging": True, "logging_level": logging.ERROR}
    if address is None:
        ray.init(
            num_cpus=num_cpus,
            include_dashboard=False,
            object_store_memory=LOCAL_OBJECT_STORE_BYTES,
            **quiet,
        )
    else:
        _join(ray, address, quiet, CONNECT_TIMEOUT_S)
    try:
        yield ray
    finally:
        ray.shutdown()


def _join(ray: Any, address: str, options: dict[str, Any], timeout: float) -> None:
    """``ray.init(address=...)``, or a :class:`ConnectionError` within ``timeout`` seconds: an
    unreachable host or port fails at once, and a join that does not finish in time (Ray
    retries an address that is not a Ray head for ever) is abandoned."""
    hint = (
        "check --address (the head node's host:port, as `ray status` on it shows, or "
        "ray://host:port for Ray Client), or leave it out to start a local Ray instance"
    )
    target = address.removeprefix("ray://")
    host, _, port = target.rpartition(":")
    if address not in ("auto", "local"):
        if not port.isdigit() or not host:
            raise ConnectionError(f"--address {address!r} is not host:port; {hint}")
        try:
            socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
        except OSError as error:
            raise ConnectionError(
                f"cannot reach the Ray cluster at {address} ({error.strerror or error}); {hint}"
            ) from None
    failure: list[BaseException] = []
    finished = threading.Event()

    def init() -> None:
        try:
            ray.init(address=address, **options)
        except BaseException as error:  # reported by the caller
            failure.append(error)
        finally:
            finished.set()

    threading.Thread(target=init, name="blindface-ray-join", daemon=True).start()
    if not finished.wait(timeout):
        raise ConnectionError(
            f"could not join the Ray cluster at {address} within {timeout:g} s (is it a Ray "
            f"head node?); {hint}"
        )
    if failure:
        raise ConnectionError(f"cannot join the Ray cluster at {address} ({failure[0]}); {hint}")


def quiet_data_context(ray: Any) -> None:
    """Ray Data (``ray``: the module :func:`ray_session` yields) without its own progress bars
    and logs (blindface shows its own progress); its context's constructor warns about its own
    deprecated fields."""
    logging.getLogger("ray.data").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False


def actor_pool(ray: Any, blocks: int, num_actors: int) -> Any:
    """An actor pool of ``num_actors`` actors, no more than there are ``blocks`` to map."""
    return ray.data.ActorPoolStrategy(size=max(1, min(num_actors, blocks)))


def _single_threaded() -> None:
    """One OpenCV and one PyTorch thread per actor, as in the local worker processes."""
    import cv2  # lazy: OpenCV is only needed by the embedding actors

    cv2.setNumThreads(1)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)


# -- embedding ------------------------------------------------------------------------------


class EmbedActor:
    """Holds one embedder, built by its factory (as the local worker processes build theirs); maps
    a batch of ``(content_hash, path)`` rows to cache rows."""

    def __init__(
        self, factory: Callable[..., Embedder], options: dict[str, Any], expected: dict[str, Any]
    ) -> None:
        _single_threaded()
        self.model = factory(**options)
        if self.model.settings != expected:
            raise ValueError(
                f"a Ray actor rebuilt the {self.model.name} embedder with other settings than "
                "the driver's; check that every node runs the same blindface and model files"
            )
        _single_threaded()

    def __call__(self, batch: pa.Table) -> pa.Table:
        paths = batch.column("path").to_pylist()
        records = list(embed_files(paths, self.model, n_jobs=1, chunk_size=max(1, len(paths))))
        values = np.zeros((len(records), self.model.dim), np.float32)
        valid = np.zeros(len(records), bool)
        for row, record in enumerate(records):
            if record.embedding is not None:
                values[row], valid[row] = record.embedding, True
        columns = store_columns(
            values,
            valid,
            [record.status for record in records],
            [record.reason for record in records],
            batch.column("content_hash").to_pylist(),
        )
        return pa.Table.from_arrays(columns, schema=pa.schema(store_fields(self.model.dim)))


def ray_entries(
    todo: dict[str, str],
    model: Any,
    *,
    address: str | None,
    num_actors: int,
    batch_size: int,
    num_gpus: float,
) -> Iterator[Entry]:
    """Embed the files of ``todo`` (hash -> path) on Ray actors; entries stream back in
    completion order."""
    try:
        check_embedder_name(model.name)
    except EmbedderError as error:
        raise ValueError(
            f"the ray engine rebuilds the embedder from its name in each actor: {error}"
        ) from None
    items = list(todo.items())
    with ray_session(address, num_cpus=num_actors) as ray:
        quiet_data_context(ray)
        blocks = [
            pa.table(
                {
                    "content_hash": [digest for digest, _ in items[start : start + batch_size]],
                    "path": [path for _, path in items[start : start + batch_size]],
                }
            )
            for start in range(0, len(items), batch_size)
        ]
        results = ray.data.from_arrow(blocks).map_batches(
            EmbedActor,
            fn_constructor_args=(embedder_factory(model.name), model.options, model.settings),
            batch_size=batch_size,
            batch_format="pyarrow",
            compute=actor_pool(ray, len(blocks), num_actors),
            num_cpus=1,
            **({"num_gpus": num_gpus} if num_gpus else {}),
        )
        for table in results.iter_batches(batch_size=None, batch_format="pyarrow"):
            values, valid = decode_embeddings(table.column("embedding"))
            for row, (digest, status, reason) in enumerate(
                zip(
                    table.column("content_hash").to_pylist(),
                    table.column("face_status").to_pylist(),
                    table.column("face_reason").to_pylist(),
                    strict=True,
                )
            ):
                yield Entry(digest, values[row].copy() if valid[row] else None, status, reason)
