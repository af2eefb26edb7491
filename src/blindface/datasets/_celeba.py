"""CelebA (Liu et al. 2015): 40 binary attributes and identity labels."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from blindface.datasets._layout import (
    Layout,
    child,
    entries,
    join_posix,
    relative_posix,
    reports_problems,
)
from blindface.datasets._schema import DatasetLayoutError, make_table

ATTRIBUTES_FILE = "list_attr_celeba.txt"
IDENTITY_FILE = "identity_CelebA.txt"
IMAGE_FOLDERS = ("img_align_celeba", "img_celeba", "img_celeba_crop")


def _find(folder: Path, name: str, kind: str, within: str) -> Path | None:
    """``folder/name`` or ``folder/<within>/name`` (the official Anno/ and Img/ sub-folders)."""
    found = child(folder, name, kind=kind)
    if found is None and (sub := child(folder, within)) is not None:
        found = child(sub, name, kind=kind)
    return found


def _image_dir(folder: Path) -> Path | None:
    for name in IMAGE_FOLDERS:
        if (found := _find(folder, name, "dir", "Img")) is not None:
            return found
    return None


CELEBA = Layout(
    title="CelebA",
    folders=("celeba", "CelebA"),
    expected=(
        f"{ATTRIBUTES_FILE} and {IDENTITY_FILE} (directly or in Anno/) beside an image folder "
        f"{', '.join(f'{n}/' for n in IMAGE_FOLDERS)} (directly or in Img/)"
    ),
    looks_like=lambda f: (
        _find(f, ATTRIBUTES_FILE, "file", "Anno") is not None or _image_dir(f) is not None
    ),
)


def read_celeba_attributes(path: str | os.PathLike[str]) -> pd.DataFrame:
    """``list_attr_celeba.txt`` as a boolean table indexed by image file name.

    Format: a count line, a line of attribute names, then ``000001.jpg -1 1 ...`` rows.
    """
    path = Path(path)
    with path.open() as f:
        count, header = f.readline().strip(), f.readline().split()

    def fail(message: str) -> DatasetLayoutError:
        return DatasetLayoutError(
            f"CelebA attributes {path}: {message}; expected a count line, a line of attribute "
            "names, then one '<image> <+-1 per attribute>' row per image"
        )

    if not count.isdigit() or not header:
        raise fail("no count line and attribute names")
    try:
        values = pd.read_csv(path, sep=r"\s+", skiprows=2, header=None, dtype={0: str})
    except pd.errors.ParserError as error:
        raise fail(f"rows of different lengths ({error})") from None
    if values.shape[1] != len(header) + 1:
        raise fail(f"rows with {values.shape[1] - 1} values for {len(header)} attribute names")
    values = values.set_index(0).set_axis(header, axis=1).rename_axis(None)
    if len(values) != int(count):
        raise fail(f"{len(values)} rows where the count line announces {count}")
    if not values.isin([1, -1]).all().all():
        raise fail(f"values other than 1 and -1 (or rows with fewer than {len(header)} values)")
    return (values == 1).astype("boolean")


@reports_problems
def load_celeba(root: str | os.PathLike[str]) -> pd.DataFrame:
    """CelebA table: subject = identity id (string), gender from ``Male``, expression NA
    (``Smiling`` is an attribute, not an expression), and the 40 attributes as boolean columns
    named as in ``list_attr_celeba.txt``. Only rows whose image exists; the image folder is the
    first of ``img_align_celeba``, ``img_celeba``, ``img_celeba_crop`` found.
    """
    root = Path(root)
    folder = CELEBA.locate(root)
    attributes_file = _find(folder, ATTRIBUTES_FILE, "file", "Anno")
    identity_file = _find(folder, IDENTITY_FILE, "file", "Anno")
    images = _image_dir(folder)
    parts = {
        " or ".join(f"{name}/" for name in IMAGE_FOLDERS): images,
        ATTRIBUTES_FILE: attributes_file,
        IDENTITY_FILE: identity_file,
    }
    if images is None or attributes_file is None or identity_file is None:
        missing = [name for name, part in parts.items() if part is None]
        present = [f"{p.name}/" if p.is_dir() else p.name for p in parts.values() if p]
        found = f"found {', '.join(present)}" if present else "found nothing"
        raise CELEBA.error(folder, f"{found} but no {', '.join(missing)}")
    attributes = read_celeba_attributes(attributes_file)
    identities = pd.read_csv(
        identity_file, sep=r"\s+", header=None, names=["image", "identity"], dtype=str
    ).drop_duplicates("image")
    identity = dict(zip(identities["image"], identities["identity"], strict=True))
    existing = {e.name for e in entries(images) if e.is_file()}
    kept = [name for name in attributes.index if name in existing]
    if not kept:
        raise CELEBA.error(
            folder, f"none of the {len(attributes)} images in {ATTRIBUTES_FILE} is in {images}"
        )
    if "Male" not in attributes.columns:
        raise CELEBA.error(folder, f"{ATTRIBUTES_FILE} has no Male attribute")
    attributes = attributes.loc[kept]
    prefix = relative_posix(images, root)
    male = attributes["Male"].to_numpy(dtype=bool)
    rows = {
        "path": [join_posix(prefix, name) for name in kept],
        "subject": [identity.get(name) for name in kept],
        "gender": ["male" if m else "female" for m in male],
        "gender_source": ["Male=1" if m else "Male=-1" for m in male],
    }
    rows |= {name: attributes[name].tolist() for name in attributes.columns}
    return make_table("celeba", rows, dict.fromkeys(attributes.columns, "boolean"))
