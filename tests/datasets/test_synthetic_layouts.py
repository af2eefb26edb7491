"""Loaders on small synthetic trees that mimic the published layouts (empty image files: the
loaders never open images)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from blindface.datasets import (
    DATASET_NAMES,
    DatasetLayoutError,
    DatasetWarning,
    find_datasets,
    load_celeba,
    load_cfee,
    load_ckplus,
    load_dataset,
    load_diveface,
    load_jaffe,
    load_utkface,
)


def touch(root: Path, *paths: str, text: str = "") -> None:
    for path in paths:
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)


def frames(subject: str, sequence: str, n: int) -> list[str]:
    return [
        f"ckplus/cohn-kanade-images/{subject}/{sequence}/{subject}_{sequence}_{k:08d}.png"
        for k in range(1, n + 1)
    ]


@pytest.fixture
def ck_original(tmp_path: Path) -> Path:
    touch(tmp_path, *frames("S005", "001", 11), *frames("S010", "002", 5))
    touch(tmp_path, *frames("S010", "003", 4), *frames("S011", "001", 3))
    emotion = "ckplus/Emotion/{0}/{1}/{0}_{1}_{2:08d}_emotion.txt"
    touch(tmp_path, emotion.format("S005", "001", 11), text="   3.0000000e+00\n")
    touch(tmp_path, emotion.format("S010", "002", 5), text="   5.0000000e+00\n")
    touch(tmp_path, emotion.format("S011", "001", 3), text="   9.0000000e+00\n")
    return tmp_path


def test_ckplus_original_peak_and_first_frame(ck_original: Path) -> None:
    with pytest.warns(DatasetWarning, match=r"skipped 1 CK\+ emotion files .*S011_001"):
        table = load_ckplus(ck_original)
    got = table[["sequence", "frame", "expression", "expression_source"]].values.tolist()
    assert got == [
        ["S005_001", 1, "neutral", "first frame"],
        ["S005_001", 11, "disgust", "disgust"],
        ["S010_002", 1, "neutral", "first frame"],
        ["S010_002", 5, "happy", "happy"],
    ]
    assert table["path"].iloc[1] == "ckplus/cohn-kanade-images/S005/001/S005_001_00000011.png"
    assert table["subject"].tolist() == ["S005", "S005", "S010", "S010"]


def test_ckplus_original_options(ck_original: Path) -> None:
    with pytest.warns(DatasetWarning):
        three = load_ckplus(ck_original / "ckplus", peak_frames=3)
        peaks_only = load_ckplus(ck_original, first_frame_neutral=False)
    assert three["frame"].tolist() == [1, 9, 10, 11, 1, 3, 4, 5]
    assert three["path"].iloc[0] == "cohn-kanade-images/S005/001/S005_001_00000001.png"
    assert peaks_only["expression"].tolist() == ["disgust", "happy"]
    with pytest.raises(ValueError, match="peak_frames"):
        load_ckplus(ck_original, peak_frames=0)


def test_ckplus_original_without_emotion_labels(tmp_path: Path) -> None:
    touch(tmp_path, *frames("S005", "001", 3))
    with pytest.raises(DatasetLayoutError, match=r"found cohn-kanade-images/ but no Emotion/"):
        load_ckplus(tmp_path)


def test_ckplus48_unknown_folder_and_name(tmp_path: Path) -> None:
    touch(
        tmp_path,
        "CK+/CK+48/happy/S010_006_00000013.png",
        "CK+/CK+48/happy/thumbs.db.png",
        "CK+/CK+48/bored/S010_006_00000014.png",
    )
    with pytest.warns(DatasetWarning, match=r"skipped 2 CK\+48 entries"):
        table = load_dataset("ckplus", tmp_path)
    assert table["path"].tolist() == ["CK+/CK+48/happy/S010_006_00000013.png"]
    assert table["expression"].tolist() == ["happy"]


def test_cfee(tmp_path: Path) -> None:
    base = "CFEE/CFEE_Database_230"
    touch(
        tmp_path,
        f"{base}/01-04/Images1/01_126_3963.jpg",
        f"{base}/01-04/Images1/02_339_3470.jpg",
        f"{base}/05-08/Images2/07_110_0001.jpg",
        f"{base}/09-12/Images3/09_110_2555.jpg",
        f"{base}/09-12/Images3/10_110_2559.jpg",
        f"{base}/21-22/Images6/22_126_0007.JPG",
        f"{base}/21-22/Images6/23_126_0008.jpg",
        f"{base}/21-22/Images6/cover.jpg",
        f"{base}/AU_annotation_all_subjects.xls",
    )
    with pytest.warns(DatasetWarning, match=r"skipped 2 CFEE image files .*23_126_0008\.jpg"):
        table = load_dataset("cfee", tmp_path)
    assert table["category"].tolist() == [1, 2, 7, 9, 10, 22]
    assert table["subject"].tolist() == ["126", "339", "110", "110", "110", "126"]
    assert table["expression"].tolist() == [
        "neutral", "happy", "disgust", pd.NA, pd.NA, pd.NA,
    ]  # fmt: skip
    assert table["expression_source"].tolist() == [
        "neutral", "happy", "disgusted", "happily disgusted", "sadly fearful", "awed",
    ]  # fmt: skip
    assert table["path"].iloc[0] == f"{base}/01-04/Images1/01_126_3963.jpg"
    assert table["gender"].isna().all()
    direct = load_cfee(tmp_path / base / "09-12")
    assert direct["path"].tolist() == ["Images3/09_110_2555.jpg", "Images3/10_110_2559.jpg"]


@pytest.mark.parametrize("wrapper", ["4K_120/", ""])
def test_diveface_published_layout(tmp_path: Path, wrapper: str) -> None:
    touch(
        tmp_path,
        f"DiveFace/{wrapper}HA4K_120/100016927@N02_identity_1/9469948405_7.jpg",
        f"DiveFace/{wrapper}HA4K_120/100016927@N02_identity_1/9471360370_8.jpg",
        f"DiveFace/{wrapper}HB4K_120/10014693@N05_identity_11/3050915561_2.jpg",
        f"DiveFace/{wrapper}HN4K_120/100170304@N08_identity_0/9486161676_0.jpg",
        f"DiveFace/{wrapper}MA4K_120/100205612@N03_identity_0/10918989176_0.jpg",
        f"DiveFace/{wrapper}MB4K_120/100224830@N05_identity_0/9503084341_4.jpg",
        f"DiveFace/{wrapper}MN4K_120/10018281@N03_identity_5/12824661753_3.jpg",
        f"DiveFace/{wrapper}MN4K_120/stray.jpg",
    )
    with pytest.warns(DatasetWarning, match="skipped 1 DiveFace files"):
        table = load_diveface(tmp_path)
    by_group = table.groupby("group")[["gender", "ethnicity", "ethnicity_group"]].first()
    assert by_group.to_dict("index") == {
        "HA4K_120": {"gender": "male", "ethnicity": "asian", "ethnicity_group": "east_asian"},
        "HB4K_120": {"gender": "male", "ethnicity": "caucasian", "ethnicity_group": "caucasian"},
        "HN4K_120": {
            "gender": "male",
            "ethnicity": "black",
            "ethnicity_group": "sub_saharan_south_indian",
        },
        "MA4K_120": {"gender": "female", "ethnicity": "asian", "ethnicity_group": "east_asian"},
        "MB4K_120": {
            "gender": "female",
            "ethnicity": "caucasian",
            "ethnicity_group": "caucasian",
        },
        "MN4K_120": {
            "gender": "female",
            "ethnicity": "black",
            "ethnicity_group": "sub_saharan_south_indian",
        },
    }
    assert len(table) == 7
    assert table["subject"].value_counts()["100016927@N02_identity_1"] == 2
    assert table["path"].iloc[0] == (
        f"DiveFace/{wrapper}HA4K_120/100016927@N02_identity_1/9469948405_7.jpg"
    )
    assert table["expression"].isna().all()


def test_diveface_script_layout(tmp_path: Path) -> None:
    touch(
        tmp_path,
        "Group1_Female/a_identity_1/1.jpg",
        "Group2_Male/b_identity_2/2.jpg",
        "Group3_Male_balanced/c_identity_3/3.jpg",
    )
    table = load_dataset("diveface", tmp_path)
    assert table[["gender", "ethnicity_group"]].values.tolist() == [
        ["female", "east_asian"],
        ["male", "sub_saharan_south_indian"],
        ["male", "caucasian"],
    ]
    assert table["path"].tolist() == [
        "Group1_Female/a_identity_1/1.jpg",
        "Group2_Male/b_identity_2/2.jpg",
        "Group3_Male_balanced/c_identity_3/3.jpg",
    ]


def test_utkface_malformed_names_one_warning(tmp_path: Path) -> None:
    touch(
        tmp_path,
        "utkface/UTKFace/25_1_3_20170119171230138.jpg.chip.jpg",
        "utkface/UTKFace/61_0_4_20170117174013155.jpg.chip.jpg",
        "utkface/UTKFace/39_1_20170116174525125.jpg.chip.jpg",
        "utkface/UTKFace/24_0_5_20170116174525125.jpg.chip.jpg",
    )
    with pytest.warns(DatasetWarning, match=r"skipped 2 UTKFace .*39_1_2017") as record:
        table = load_utkface(tmp_path)
    assert len(record) == 1
    assert table[["age", "gender", "ethnicity"]].values.tolist() == [
        [25.0, "female", "indian"],
        [61.0, "male", "others"],
    ]
    assert table["ethnicity_group"].tolist() == ["sub_saharan_south_indian", pd.NA]


def test_jaffe_case_insensitive_folder_and_bad_name(tmp_path: Path) -> None:
    touch(tmp_path, "JAFFE/jaffedbase/KA.HA1.29.tiff", "JAFFE/jaffedbase/KA.XX1.30.tiff")
    with pytest.warns(DatasetWarning, match="KA.XX1.30.tiff"):
        table = load_jaffe(tmp_path)
    assert table["path"].tolist() == ["JAFFE/jaffedbase/KA.HA1.29.tiff"]
    assert table["expression"].tolist() == ["happy"]


def test_celeba_official_layout(tmp_path: Path) -> None:
    attributes = "3\r\nMale Smiling \r\n000001.jpg -1  1\r\n000002.jpg  1 -1\r\n000003.jpg 1 1\r\n"
    touch(tmp_path, "CelebA/Anno/list_attr_celeba.txt", text=attributes)
    touch(tmp_path, "CelebA/Anno/identity_CelebA.txt", text="000001.jpg 2880\n000002.jpg 2937\n")
    touch(
        tmp_path, "CelebA/Img/img_align_celeba/000001.jpg", "CelebA/Img/img_align_celeba/000002.jpg"
    )
    table = load_celeba(tmp_path)
    assert table["path"].tolist() == [
        "CelebA/Img/img_align_celeba/000001.jpg",
        "CelebA/Img/img_align_celeba/000002.jpg",
    ]
    assert table["subject"].tolist() == ["2880", "2937"]
    assert table["gender"].tolist() == ["female", "male"]
    assert table["Smiling"].tolist() == [True, False]
    assert table["Male"].dtype == "boolean"
    assert table["expression"].isna().all()


def test_celeba_incomplete_layout(tmp_path: Path) -> None:
    touch(tmp_path, "celeba/img_celeba_crop/000093.jpg")
    with pytest.raises(DatasetLayoutError) as error:
        load_dataset("celeba", tmp_path)
    message = str(error.value)
    assert message.startswith(f"CelebA at {tmp_path / 'celeba'}: found img_celeba_crop/ but no")
    assert "list_attr_celeba.txt" in message and "identity_CelebA.txt" in message
    assert "expected" in message


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        ("5\nMale Smiling\n000001.jpg -1 1\n", "1 rows where the count line announces 5"),
        ("1\nMale Smiling\n000001.jpg 0 1\n", "values other than 1 and -1"),
        ("1\nMale Smiling\n000001.jpg 1\n", "rows with 1 values for 2 attribute names"),
        ("2\nMale Smiling\n000001.jpg 1 1\n000002.jpg 1\n", "values other than 1 and -1"),
        ("1\nMale Smiling\n000001.jpg 1 1 1\n", "rows with 3 values for 2 attribute names"),
        ("2\nMale Smiling\n000001.jpg 1 1\n000002.jpg 1 1 1\n", "rows of different lengths"),
        ("Male Smiling\n000001.jpg 1 1\n", "no count line"),
    ],
)
def test_celeba_malformed_attribute_file(tmp_path: Path, attributes: str, message: str) -> None:
    touch(tmp_path, "celeba/list_attr_celeba.txt", text=attributes)
    touch(tmp_path, "celeba/identity_CelebA.txt", text="000001.jpg 1\n")
    touch(tmp_path, "celeba/img_celeba/000001.jpg")
    with pytest.raises(DatasetLayoutError, match=message):
        load_celeba(tmp_path)


def test_missing_dataset_names_expected_folder(tmp_path: Path) -> None:
    with pytest.raises(DatasetLayoutError, match=r"JAFFE: not found under .*a folder jaffe/"):
        load_dataset("jaffe", tmp_path)
    (tmp_path / "utkface").mkdir()
    with pytest.raises(DatasetLayoutError, match="UTKFace at .*found no UTKFace image files"):
        load_dataset("utkface", tmp_path)
    with pytest.raises(ValueError, match="unknown dataset 'mnist'"):
        load_dataset("mnist", tmp_path)
    with pytest.raises(DatasetLayoutError, match="is not a folder"):
        find_datasets(tmp_path / "nowhere")


def test_find_datasets_all_eight(tmp_path: Path) -> None:
    touch(
        tmp_path,
        "Jaffe/jaffedbase/KA.HA1.29.tiff",
        "CK+/cohn-kanade-images/S005/001/S005_001_00000001.png",
        "LFW/lfw/AJ_Cook/AJ_Cook_0001.jpg",
        "UTKFACE/UTKFace/25_1_3_20170119171230138.jpg.chip.jpg",
        "celeba/img_align_celeba/000001.jpg",
        "cfee/CFEE_Database_230/01-04/Images1/01_126_3963.jpg",
        "diveface/HA4K_120/x_identity_0/1.jpg",
        "Taiwanese/faces_256x256/0121c01.jpg",
    )
    assert find_datasets(tmp_path) == list(DATASET_NAMES)
    assert find_datasets(tmp_path / "LFW") == ["lfw"]
    assert find_datasets(tmp_path / "cfee") == ["cfee"]
    assert find_datasets(tmp_path / "Taiwanese") == ["taiwanese"]
    lfw = load_dataset("lfw", tmp_path)
    assert lfw["path"].tolist() == ["LFW/lfw/AJ_Cook/AJ_Cook_0001.jpg"]
    assert lfw["expression"].isna().all()


def test_tables_are_sorted_and_reproducible(tmp_path: Path) -> None:
    names = ["70_1_0_2.jpg.chip.jpg", "16_0_2_1.jpg.chip.jpg", "30_1_1_3.jpg.chip.jpg"]
    touch(tmp_path, *(f"UTKFace/{n}" for n in names))
    first = load_utkface(tmp_path)
    assert first["path"].tolist() == sorted(f"UTKFace/{n}" for n in names)
    pd.testing.assert_frame_equal(first, load_utkface(tmp_path))


def test_cfee_follows_folder_links_without_looping(tmp_path: Path) -> None:
    base = tmp_path / "cfee" / "CFEE_Database_230"
    touch(tmp_path, "cfee/CFEE_Database_230/01-04/Images1/01_126_3963.jpg")
    touch(tmp_path, "elsewhere/Images2/02_339_3470.jpg")
    (base / "05-08").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    (base / "01-04" / "Images1" / "loop").symlink_to(base, target_is_directory=True)
    table = load_cfee(tmp_path)
    assert table["path"].tolist() == [
        "cfee/CFEE_Database_230/01-04/Images1/01_126_3963.jpg",
        "cfee/CFEE_Database_230/05-08/Images2/02_339_3470.jpg",
    ]
