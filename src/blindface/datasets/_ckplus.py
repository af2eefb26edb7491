"""CK+ (Extended Cohn-Kanade, Lucey et al. 2010), as the CK+48 crops or the original release."""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

import pandas as pd

from blindface._safe_read import read_bounded
from blindface.datasets._layout import (
    Layout,
    child,
    entries,
    join_posix,
    relative_posix,
    reports_problems,
    subdirs,
)
from blindface.datasets._schema import make_table, normalize_expression, warn_skipped

# S010_006_00000013.png = subject S010, sequence 006, frame 13
_FRAME = re.compile(r"^(S\d+)_(\d+)_(\d+)\.png$", re.IGNORECASE)
_EMOTION_FILE = re.compile(r"^(S\d+)_(\d+)_(\d+)_emotion\.txt$", re.IGNORECASE)
# The CK+ Emotion_labels codes (CK+ ReadMe): 0=neutral 1=anger 2=contempt 3=disgust 4=fear
# 5=happy 6=sadness 7=surprise. The names double as the CK+48 folder names.
CKPLUS_CODES: tuple[str, ...] = (
    "neutral",
    "anger",
    "contempt",
    "disgust",
    "fear",
    "happy",
    "sadness",
    "surprise",
)
FIRST_FRAME = "first frame"
_EXTRA = {"sequence": "string", "frame": "Int64"}


def _is_ck48_dir(folder: Path) -> bool:
    """A folder whose sub-folders are CK+ emotion names holding S###_###_########.png files."""
    for sub in subdirs(folder):
        if sub.name.lower() in CKPLUS_CODES and any(_FRAME.match(e.name) for e in entries(sub)):
            return True
    return False


def _original_dirs(folder: Path) -> tuple[Path, Path | None] | None:
    images = child(folder, "cohn-kanade-images", "cohn-kanade")
    if images is None:
        return None
    labels = child(folder, "Emotion", "Emotion_labels")
    if labels is not None and child(labels, "Emotion") is not None:
        labels = child(labels, "Emotion")
    return images, labels


def _ck48_dir(folder: Path) -> Path | None:
    inner = child(folder, "CK+48", "CK48", "CK+")
    if inner is not None and _is_ck48_dir(inner):
        return inner
    return folder if _is_ck48_dir(folder) else None


CKPLUS = Layout(
    title="CK+",
    folders=("ckplus48", "ckplus", "CK+48", "CK+", "ck48"),
    expected=(
        "CK+48/<emotion>/S###_###_########.png (emotion in anger, contempt, disgust, fear, "
        "happy, sadness, surprise) or the original release cohn-kanade-images/S###/###/"
        "S###_###_########.png with Emotion/S###/###/S###_###_########_emotion.txt"
    ),
    looks_like=lambda f: _original_dirs(f) is not None or _ck48_dir(f) is not None,
)


@reports_problems
def load_ckplus(
    root: str | os.PathLike[str], *, peak_frames: int = 1, first_frame_neutral: bool = True
) -> pd.DataFrame:
    """CK+ table from either layout; extra columns ``sequence`` (``S010_006``) and ``frame``.

    CK+48 (``CK+48/<emotion>/S###_###_########.png``): every file, labelled by its folder.

    Original release (``cohn-kanade-images/`` + ``Emotion/``): only the 327 sequences with an
    emotion file are used. Each sequence runs from a neutral face to the peak expression; its
    emotion file names the peak (last) frame. Labelled rows: the last ``peak_frames`` frames
    up to that peak get its emotion (CK+48 used 3) and, with ``first_frame_neutral``, the
    sequence's first frame is labelled ``neutral`` (``expression_source`` ``"first frame"``).

    Parameters
    ----------
    root : path
        The data root (holding ``ckplus48/`` or ``ckplus/``) or the CK+ folder itself.
    peak_frames : int
        Original layout only: how many frames ending at the peak get the emotion label.
    first_frame_neutral : bool
        Original layout only: add each labelled sequence's first frame as ``neutral``.
    """
    if peak_frames < 1:
        raise ValueError(f"peak_frames must be >= 1, got {peak_frames}")
    root = Path(root)
    folder = CKPLUS.locate(root)
    original = _original_dirs(folder)
    if original is not None:
        return _load_original(root, folder, *original, peak_frames, first_frame_neutral)
    ck48 = _ck48_dir(folder)
    if ck48 is None:
        raise CKPLUS.error(folder, "found neither CK+48/<emotion>/ folders nor cohn-kanade-images/")
    return _load_ck48(root, ck48)


def _load_ck48(root: Path, folder: Path) -> pd.DataFrame:
    rows: dict[str, list] = {
        k: [] for k in ("path", "subject", "expression", "expression_source", "sequence", "frame")
    }
    bad: list[str] = []
    for sub in subdirs(folder):
        expression = normalize_expression(sub.name)
        if expression is None:
            bad.append(f"{sub.name}/")
            continue
        prefix = relative_posix(sub, root)
        for entry in entries(sub):
            if not entry.is_file():
                continue
            match = _FRAME.match(entry.name)
            if match is None:
                bad.append(f"{sub.name}/{entry.name}")
                continue
            subject, sequence, frame = match.groups()
            rows["path"].append(join_posix(prefix, entry.name))
            rows["subject"].append(subject.upper())
            rows["expression"].append(expression)
            rows["expression_source"].append(sub.name)
            rows["sequence"].append(f"{subject.upper()}_{sequence}")
            rows["frame"].append(int(frame))
    warn_skipped(
        "CK+48 entries",
        bad,
        "CK+48/<emotion>/S###_###_########.png with a known emotion folder name",
    )
    return make_table("ckplus", rows, _EXTRA)


def _read_code(path: Path) -> str:
    """The CK+ emotion name in an ``*_emotion.txt`` file (a float like ``3.0000000e+00``).

    Raises ValueError saying what is wrong (unreadable, not a number, not a code 0-7).
    """
    try:
        data = read_bounded(path, "emotion file", limit=4096, error=ValueError)
        text = data.decode("ascii").strip()
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) else "not ASCII text"
        raise ValueError(f"cannot be read: {reason or error}") from None
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"holds {text[:20]!r}, not a number") from None
    if not (math.isfinite(value) and value == int(value) and 0 <= value < len(CKPLUS_CODES)):
        raise ValueError(f"holds {text[:20]!r}, not a code 0-7")
    return CKPLUS_CODES[int(value)]


def _load_original(
    root: Path,
    folder: Path,
    images: Path,
    labels: Path | None,
    peak_frames: int,
    first_frame_neutral: bool,
) -> pd.DataFrame:
    if labels is None:
        raise CKPLUS.error(
            folder,
            "found cohn-kanade-images/ but no Emotion/ folder (from Emotion_labels.zip)",
        )
    rows: dict[str, list] = {
        k: [] for k in ("path", "subject", "expression", "expression_source", "sequence", "frame")
    }
    bad: list[str] = []
    emotion_files = [
        (Path(entry.path), match)
        for subject_dir in subdirs(labels)
        for sequence_dir in subdirs(subject_dir)
        for entry in entries(sequence_dir)
        if (match := _EMOTION_FILE.match(entry.name))
    ]
    for emotion_file, match in emotion_files:
        subject, sequence, peak = match.groups()
        where = emotion_file.relative_to(labels).as_posix()
        try:
            name = _read_code(emotion_file)
        except ValueError as error:
            bad.append(f"{where} ({error})")
            continue
        frame_dir = child(images, subject)
        frame_dir = child(frame_dir, sequence) if frame_dir else None
        frames = {
            int(m.group(3)): e.name
            for e in (entries(frame_dir) if frame_dir else [])
            if (m := _FRAME.match(e.name))
        }
        if frame_dir is None or int(peak) not in frames:
            bad.append(
                f"{where} (no frame {int(peak)} in cohn-kanade-images/{subject}/{sequence}/)"
            )
            continue
        numbers = sorted(n for n in frames if n <= int(peak))
        labelled = [(n, name) for n in numbers[-peak_frames:]]
        if first_frame_neutral and numbers[0] not in dict(labelled):
            labelled.insert(0, (numbers[0], FIRST_FRAME))
        prefix = relative_posix(frame_dir, root)
        for number, source in labelled:
            rows["path"].append(join_posix(prefix, frames[number]))
            rows["subject"].append(subject.upper())
            rows["expression"].append(
                "neutral" if source == FIRST_FRAME else normalize_expression(source)
            )
            rows["expression_source"].append(source)
            rows["sequence"].append(f"{subject.upper()}_{sequence}")
            rows["frame"].append(number)
    if not emotion_files:
        raise CKPLUS.error(labels, "found no S###_###_########_emotion.txt files")
    warn_skipped(
        f"CK+ emotion files of {labels} (bad code or peak frame image missing)",
        bad,
        "one code 0-7 per file (e.g. 3.0000000e+00) and the named frame in "
        "cohn-kanade-images/S###/###/; fix or remove these files",
    )
    return make_table("ckplus", rows, _EXTRA)
