"""Fit a method that retrains the recognizer (``lnl``) from embedding stores: the stores say
which images and labels; the images, found under the data root, give SFace's feature maps."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from blindface._provenance import (
    EmbedderMismatchError,
    describe_identity,
)
from blindface.blinding import RecognizerBlinder, get_method
from blindface.blinding._params import check_params
from blindface.blinding._weighting import WEIGHTINGS, Weighting, weighted_rows
from blindface.faces import sface_features
from blindface.pipelines._fit import (
    FIT_COLUMNS,
    StoreFit,
    StorePaths,
    _label,
    _Tally,
    fit_sources,
    save_fit,
)
from blindface.pipelines._rows import read_labelled

#: The store columns the feature maps are found by: the image (path, content hash) and whether
#: its face was embedded.
IMAGE_COLUMNS = ("path", *FIT_COLUMNS)


def default_cache_dir() -> Path:
    """Where feature maps are cached when no folder is given: ``$BLINDFACE_CACHE``, else
    ``~/.cache/blindface`` (where the study caches its embeddings too)."""
    env = os.environ.get("BLINDFACE_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "blindface"


def fit_recognizer_stores(
    method: str,
    embeddings: StorePaths,
    out: str | os.PathLike[str],
    *,
    data_root: str | os.PathLike[str],
    cache_dir: str | os.PathLike[str] | None = None,
    identity_embeddings: StorePaths | None = None,
    params: Mapping[str, Any] | None = None,
    progress: bool = True,
    use_identity_expressions: bool = False,
    label_map: Mapping[str, str] | None = None,
    adapt: StorePaths | None = None,
    weighting: Weighting | None = None,
    allow_embedder_mismatch: bool = False,
    n_jobs: int = 2,
) -> StoreFit:
    """Fit ``method`` (one of :data:`~blindface.blinding.RECOGNIZERS`, e.g. ``lnl``) on the
    images of embedding stores and save it into ``out``.

    The stores are read as :func:`~blindface.pipelines.fit_stores` reads them (expression rows
    from ``embeddings``, identity rows from ``identity_embeddings``, ``adapt`` stores as sources
    of their own, labels and people by the one rule of :func:`~blindface.pipelines.row_labels`,
    ``weighting`` of the sources), and ``out`` and the parameters are checked before any work
    the same way; but the model is fit on SFace's feature maps of their embedded faces,
    :func:`~blindface.faces.sface_features` of the images under ``data_root`` (the folder the
    stores' ``path`` column is relative to), cached in ``cache_dir`` (default
    :func:`default_cache_dir`) on ``n_jobs`` processes. The maps of every row are held in
    memory (100 kB per face at the default cut). Writes the model and its
    ``training_curves.png`` as the folder ``out``, atomically.

    The stores must be SFace stores with its default settings (their faces are found again as
    SFace finds them): a store of another embedder is an
    :class:`~blindface._provenance.EmbedderMismatchError` unless ``allow_embedder_mismatch``.
    The model records the stores' embedder and the stores (``fitted_on_``).

    Raises
    ------
    FileNotFoundError
        When a store's images are not under ``data_root`` (the message names the first).
    ValueError
        When ``method`` blinds embeddings (fit it with ``fit_stores``), an image changed since
        its store was made, or a parameter is out of its range.
    """
    entry = get_method(method)
    if entry.input_kind != "sface_features":
        raise ValueError(f"{method} blinds embeddings: fit it with fit_stores")
    weighting = weighting or ("balanced" if adapt is not None else "rows")
    if weighting not in WEIGHTINGS:
        raise ValueError(f"weighting must be one of {', '.join(WEIGHTINGS)}, got {weighting!r}")
    model = entry.create()
    if not isinstance(model, RecognizerBlinder):
        raise TypeError(f"{method} is registered as a recognizer but is no RecognizerBlinder")
    settings = {"verbose": int(progress), **(params or {})}
    check_params(type(model), settings)
    model.set_params(**settings)
    sources, embedder = fit_sources(
        embeddings, identity_embeddings, adapt, out, allow_embedder_mismatch
    )
    if embedder is not None and embedder["embedder"] != "sface" and not allow_embedder_mismatch:
        raise EmbedderMismatchError(
            f"the stores hold {describe_identity(embedder)} embeddings, but {method} finds "
            "their faces again as SFace does and retrains SFace: embed the images with sface, "
            "or pass --allow-embedder-mismatch if you know the stores' faces are SFace's"
        )
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    cut = int(model.get_params()["cut"])
    parts, tallies = [], {}
    for path, role in sources:
        rows = read_labelled(
            path,
            label=_label(role, use_identity_expressions),
            label_map=label_map,
            columns=IMAGE_COLUMNS,
        )
        if "path" not in rows.table.columns:
            raise ValueError(f"{path} has no 'path' column: the images behind it are unknown")
        maps = sface_features(
            rows.table, data_root, cache, cut=cut, n_jobs=n_jobs, progress=progress
        )
        parts.append((maps, rows.labels, rows.people, np.full(len(rows), str(path), object)))
        tallies.setdefault((str(path), role), _Tally()).add(rows.labels, rows.people, rows.table)
    columns = [np.concatenate([p[i] for p in parts]) for i in range(4)]
    if weighting != "rows":  # "rows" keeps every row once, in order: no copy of the maps
        keep = weighted_rows(columns[3], weighting)
        columns = [column[keep] for column in columns]
    maps, expression, subject, source = columns
    model.fit(maps, expression=expression, subject=subject, source=source)
    return save_fit(model, sources, tallies, embedder, out)
