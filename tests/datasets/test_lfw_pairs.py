"""LFW pair lists in the official View-1 and View-2 formats, on synthetic trees."""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blindface.datasets import DatasetLayoutError, DatasetWarning, load_lfw_pairs

PEOPLE = {"Ann_Lee": 3, "Bo_Li": 2, "Cy_Ng": 1, "Di_Ox": 2}


def make_lfw(root: Path, pairs_name: str, text: str) -> Path:
    for name, n in PEOPLE.items():
        folder = root / "lfw" / "lfw" / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(1, n + 1):
            (folder / f"{name}_{i:04d}.jpg").write_bytes(b"")
    (root / "lfw" / pairs_name).write_text(text)
    return root


def test_view2_two_folds(tmp_path: Path) -> None:
    lines = [
        "2\t2",
        "Ann_Lee\t1\t2",
        "Bo_Li\t1\t2",
        "Ann_Lee\t1\tCy_Ng\t1",
        "Bo_Li\t2\tDi_Ox\t1",
        "Ann_Lee\t2\t3",
        "Di_Ox\t1\t2",
        "Cy_Ng\t1\tDi_Ox\t2",
        "Ann_Lee\t3\tBo_Li\t9",
    ]
    make_lfw(tmp_path, "pairs.txt", "\n".join(lines) + "\n")
    with pytest.warns(DatasetWarning, match="skipped 1 of 8 LFW pairs in pairs.txt"):
        pairs = load_lfw_pairs(tmp_path, "view2")
    assert pairs["fold"].tolist() == [0, 0, 0, 0, 1, 1, 1]
    assert pairs["same"].tolist() == [True, True, False, False, True, True, False]
    assert pairs.attrs["skipped"] == 1
    assert pairs["path_a"].iloc[2] == "lfw/lfw/Ann_Lee/Ann_Lee_0001.jpg"
    assert pairs["path_b"].iloc[2] == "lfw/lfw/Cy_Ng/Cy_Ng_0001.jpg"
    assert pairs["same"].dtype == bool and pairs["fold"].dtype == "int64"
    with pytest.warns(DatasetWarning):
        direct = load_lfw_pairs(tmp_path / "lfw", "view2")
    assert direct["path_a"].iloc[0] == "lfw/Ann_Lee/Ann_Lee_0001.jpg"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Ann_Lee\t1\t2\n", "line 1 is 'Ann_Lee 1 2', not a count line"),
        ("1\t1\nAnn_Lee\t1\t2\n", "line 1 is '1 1', not a count line"),
        ("2\nAnn_Lee\t1\t2\nBo_Li\t1\t2\nAnn_Lee\t1\tCy_Ng\t1\n", "3 pair lines"),
        ("1\nAnn_Lee\t1\tCy_Ng\t1\nAnn_Lee\t1\t2\n", "line 2 'Ann_Lee 1 Cy_Ng 1' is not a matched"),
        ("1\nAnn_Lee\t1\t2\nAnn_Lee\tx\tCy_Ng\t1\n", "line 3 .* is not a mismatched"),
    ],
)
def test_malformed_view1(tmp_path: Path, text: str, message: str) -> None:
    make_lfw(tmp_path, "pairsDevTest.txt", text)
    with pytest.raises(DatasetLayoutError, match=message):
        load_lfw_pairs(tmp_path, "devtest")


def test_missing_pair_file_and_bad_view(tmp_path: Path) -> None:
    make_lfw(tmp_path, "pairsDevTest.txt", "1\nAnn_Lee\t1\t2\nAnn_Lee\t1\tCy_Ng\t1\n")
    with pytest.raises(DatasetLayoutError, match=r"LFW at .*found no pairsDevTrain\.txt"):
        load_lfw_pairs(tmp_path, "devtrain")
    with pytest.raises(ValueError, match="view must be one of"):
        load_lfw_pairs(tmp_path, "view3")  # type: ignore[arg-type]


names = st.sampled_from(sorted(PEOPLE))
matched = names.flatmap(
    lambda n: st.tuples(st.just(n), st.integers(1, 4), st.integers(1, 4))  # 4 may be missing
)
mismatched = st.tuples(names, st.integers(1, 3), names, st.integers(1, 3)).filter(
    lambda p: p[0] != p[2]
)


@settings(max_examples=25, deadline=None)
@given(
    st.integers(1, 3).flatmap(
        lambda n: st.lists(
            st.tuples(
                st.lists(matched, min_size=n, max_size=n),
                st.lists(mismatched, min_size=n, max_size=n),
            ),
            min_size=1,
            max_size=3,
        )
    )
)
def test_view2_round_trip(folds: list) -> None:
    """Every written pair comes back in order with its fold, unless one of its images is missing."""
    n = len(folds[0][0])
    lines = [f"{len(folds)}\t{n}"]
    expected = []
    for fold, (same, different) in enumerate(folds):
        for name, i, j in same:
            lines.append(f"{name}\t{i}\t{j}")
            expected.append((fold, True, name, i, name, j))
        for a, i, b, j in different:
            lines.append(f"{a}\t{i}\t{b}\t{j}")
            expected.append((fold, False, a, i, b, j))
    with tempfile.TemporaryDirectory() as tmp:
        root = make_lfw(Path(tmp), "pairs.txt", "\n".join(lines) + "\n")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DatasetWarning)
            pairs = load_lfw_pairs(root, "view2")
    kept = [e for e in expected if e[3] <= PEOPLE[e[2]] and e[5] <= PEOPLE[e[4]]]
    got = [
        (f, s, a.split("/")[2], int(a[-8:-4]), b.split("/")[2], int(b[-8:-4]))
        for f, s, a, b in zip(
            pairs["fold"], pairs["same"], pairs["path_a"], pairs["path_b"], strict=True
        )
    ]
    assert got == kept
    assert pairs.attrs["skipped"] == len(expected) - len(kept)
