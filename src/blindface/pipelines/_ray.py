"""Blinding a store on the Ray Data engine: one actor per model, one task per row group."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from dataclasses import asdict

import pyarrow as pa

from blindface.blinding import load
from blindface.store._format import map_embeddings
from blindface.store._layout import RowGroupRef, StoreLayout
from blindface.store._ray import actor_pool, quiet_data_context, ray_session


class BlindActor:
    """Holds one blinding model; maps a batch of row-group references to blinded row groups."""

    def __init__(self, model: str, schema: bytes, unit_norm: bool, fix: str) -> None:
        self.blinder = load(model)
        self.schema = pa.ipc.read_schema(pa.py_buffer(schema))
        self.unit_norm = unit_norm
        self.fix = fix

    def __call__(self, batch: pa.Table) -> pa.Table:
        blobs = []
        for unit in batch.to_pylist():
            ref = RowGroupRef(**{k: v for k, v in unit.items() if k != "unit"})
            table = ref.read(self.fix, unit_norm=self.unit_norm)
            sink = io.BytesIO()
            with pa.ipc.new_stream(sink, self.schema) as writer:
                writer.write_table(map_embeddings(table, self.blinder.transform, self.schema))
            blobs.append(sink.getvalue())
        return pa.table({"unit": batch.column("unit"), "table": pa.array(blobs, pa.binary())})


def ray_blinded_parts(
    layout: StoreLayout,
    model: str | os.PathLike[str],
    schema: pa.Schema,
    *,
    address: str | None,
    num_actors: int,
) -> Iterator[tuple[int, list[pa.Table]]]:
    """Blind every row group of ``layout`` on Ray actors: ``(part index, [row group])`` pairs,
    one part per input row group, in completion order."""
    units = [{"unit": i, **asdict(ref)} for i, ref in enumerate(layout.row_group_refs())]
    with ray_session(address, num_cpus=num_actors) as ray:
        quiet_data_context(ray)
        blocks = [pa.Table.from_pylist([unit]) for unit in units]
        results = ray.data.from_arrow(blocks).map_batches(
            BlindActor,
            fn_constructor_args=(
                os.path.abspath(model),
                schema.serialize().to_pybytes(),
                layout.files[0].unit_norm,
                layout.fix,
            ),
            batch_size=1,
            batch_format="pyarrow",
            compute=actor_pool(ray, len(blocks), num_actors),
            num_cpus=1,
        )
        for table in results.iter_batches(batch_size=None, batch_format="pyarrow"):
            for unit, blob in zip(
                table.column("unit").to_pylist(), table.column("table").to_pylist(), strict=True
            ):
                yield unit, [pa.ipc.open_stream(blob).read_all()]
