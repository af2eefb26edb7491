"""What a blinding model was fitted on, and the check that a model and a store belong together.

A blinder learns the geometry of one embedder's space: applied to another embedder's embeddings
of the same dimension (SFace and dlib are both 128-d) it runs and returns meaningless numbers.
So every store records its embedder (name, weights sha256, settings; the store metadata), and
``blindface fit`` records in the model, inside its checksummed weights file, the embedder
identity of the stores it was fit on (which must agree with each other) and the stores
themselves (file name and content digest). Every command that combines a model with a store
(``transform``, ``audit``, ``export-recognizer``) compares the identities with
:func:`check_same_embedder` and refuses a mismatch with an error naming both sides, unless
asked (``--allow-embedder-mismatch``). A model fitted from arrays in Python records nothing,
and a store written without an embedder name (``write_store`` without metadata) names none:
where one side is unknown nothing can be compared, and nothing is.

Settings that change how fast embeddings are computed, not what they are
(:data:`EXECUTION_SETTINGS`), and the path of an ``onnx:PATH`` recognizer or a
``blinded:MODEL_DIR`` model (its weights hash identifies it) are left out of the comparison.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "EXECUTION_SETTINGS",
    "EmbedderMismatchError",
    "OverlapWarning",
    "check_fitted_on",
    "check_same_embedder",
    "common_identity",
    "describe_identity",
    "identity_of",
]

#: Settings of where and how fast embeddings are computed (CPU or GPU, batch), not what they are.
EXECUTION_SETTINGS = frozenset({"backend", "batch_size", "providers"})
#: Bounds on the record read back from a model (see :func:`check_fitted_on`).
MAX_TEXT = 4096
MAX_STORES = 10_000
MISMATCH_FLAG = "--allow-embedder-mismatch"


class EmbedderMismatchError(ValueError):
    """A model and a store (or two stores) of different embedders; the message names both."""


class OverlapWarning(UserWarning):
    """The same images or people in two fitting stores, or in a model's fitting stores and the
    store audited with it."""


def identity_of(meta: Mapping[str, Any]) -> dict[str, Any] | None:
    """The embedder identity of a store from its metadata: ``embedder`` (name), ``dim``,
    ``weights_hash``, ``settings`` and, for a blinded store, ``blinding`` (the method); None
    when the store names no embedder."""
    name = meta.get("embedder")
    if not isinstance(name, str):
        return None
    identity = {
        "embedder": name,
        "dim": meta.get("dim"),
        "weights_hash": meta.get("weights_hash"),
        "settings": meta.get("settings") if isinstance(meta.get("settings"), dict) else {},
    }
    blinding = meta.get("blinding")
    if isinstance(blinding, dict):
        identity["blinding"] = str(blinding.get("method"))
    return identity


def describe_identity(identity: Mapping[str, Any]) -> str:
    """``sface (weights sha256 1a2b3c4d..., 128-d)``, plus the blinding of a blinded store."""
    weights = str(identity.get("weights_hash") or "unknown")[:8]
    text = f"{identity['embedder']} (weights sha256 {weights}..., {identity.get('dim')}-d)"
    if identity.get("blinding"):
        text += f", blinded by {identity['blinding']}"
    return text


def _differences(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[str]:
    """What differs between two identities, in words (empty when they agree)."""
    out = []
    if _kind(a["embedder"]) != _kind(b["embedder"]):
        out.append("embedder")
    for key in ("weights_hash", "dim", "blinding"):
        if a.get(key) != b.get(key):
            out.append({"weights_hash": "weights"}.get(key, key))
    settings_a, settings_b = a.get("settings") or {}, b.get("settings") or {}
    keys = sorted(set(settings_a) | set(settings_b))
    changed = [
        k
        for k in keys
        if k not in EXECUTION_SETTINGS and not _is_path_setting(a, k)
        if settings_a.get(k) != settings_b.get(k)
    ]
    if changed:
        out.append("settings " + ", ".join(changed[:3]) + (" ..." if len(changed) > 3 else ""))
    return out


#: Embedders named after a file or folder: the weights hash, not the path, says which one.
_PATH_NAMED = ("onnx:", "blinded:")


def _kind(name: str) -> str:
    """What kind of embedder ``name`` is: itself, or the prefix of a path-named one."""
    prefix = next((p for p in _PATH_NAMED if name.startswith(p)), None)
    return prefix[:-1] if prefix else name


def _is_path_setting(identity: Mapping[str, Any], key: str) -> bool:
    """The recognizer's file name of an ``onnx:PATH`` embedder (its weights hash decides)."""
    return key == "recognizer" and _kind(identity["embedder"]) == "onnx"


def check_same_embedder(
    expected: Mapping[str, Any] | None,
    actual: Mapping[str, Any] | None,
    *,
    expected_is: str,
    actual_is: str,
    allow: bool = False,
) -> None:
    """Raise :class:`EmbedderMismatchError` when two known identities differ (``expected_is``
    and ``actual_is`` describe their owners: "model m/ was fitted on", "store s.parquet
    holds"), unless ``allow``."""
    if expected is None or actual is None or allow:
        return
    differences = _differences(expected, actual)
    if differences:
        raise EmbedderMismatchError(
            f"{expected_is} {describe_identity(expected)} embeddings, but {actual_is} "
            f"{describe_identity(actual)} ones (they differ in {'; '.join(differences)}): "
            "a blinder only works on the embedder it was fitted on; use stores and models of "
            f"one embedder, or pass {MISMATCH_FLAG} if you know they are compatible"
        )


def common_identity(
    sources: Sequence[tuple[str, Mapping[str, Any] | None]], *, allow: bool = False
) -> dict[str, Any] | None:
    """The one embedder identity of ``sources`` (``(store, identity)`` pairs; stores naming no
    embedder are skipped), or :class:`EmbedderMismatchError` naming two stores that differ.

    With ``allow`` a mismatch is accepted and None returned: the result has no one embedder.
    """
    known = [(path, identity) for path, identity in sources if identity is not None]
    if not known:
        return None
    first_path, first = known[0]
    for path, identity in known[1:]:
        if _differences(first, identity):
            if allow:
                return None
            check_same_embedder(
                first, identity, expected_is=f"store {first_path} holds", actual_is=f"{path} holds"
            )
    return dict(first)


def check_fitted_on(value: Any) -> str | None:
    """What is wrong with a model's ``fitted_on`` record as read back (None when it is fine):
    ``{"embedder": identity or None, "stores": [{"name": str, "digest": str or None}, ...]}``,
    every string and list bounded."""
    if not isinstance(value, dict) or set(value) - {"embedder", "stores"}:
        return "fitted_on must be an object with embedder and stores"
    identity, stores = value.get("embedder"), value.get("stores", [])
    if identity is not None:
        if not isinstance(identity, dict) or not isinstance(identity.get("embedder"), str):
            return "fitted_on.embedder must name an embedder"
        texts = [identity["embedder"], identity.get("weights_hash"), identity.get("blinding")]
        if any(isinstance(t, str) and len(t) > MAX_TEXT for t in texts):
            return f"fitted_on.embedder holds a string longer than {MAX_TEXT} characters"
        if not isinstance(identity.get("settings", {}), dict):
            return "fitted_on.embedder.settings must be an object"
    if not isinstance(stores, list) or len(stores) > MAX_STORES:
        return f"fitted_on.stores must be a list of at most {MAX_STORES} stores"
    for store in stores:
        ok = (
            isinstance(store, dict)
            and isinstance(store.get("name"), str)
            and len(store["name"]) <= MAX_TEXT
            and (store.get("digest") is None or isinstance(store.get("digest"), str))
            and len(str(store.get("digest"))) <= MAX_TEXT
        )
        if not ok:
            return "fitted_on.stores must hold {name, digest} records"
    return None
