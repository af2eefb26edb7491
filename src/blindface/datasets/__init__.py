"""Face datasets as one uniform table per dataset (one row per image), without decoding images.

Every loader returns a :class:`pandas.DataFrame` sorted by ``path`` (a manifest keeps its own
row order) with these columns (pandas nullable dtypes; missing values are ``pd.NA``):

- ``dataset`` (string): dataset name (``jaffe``, ``ckplus``, ...; manifest: the CSV stem).
- ``path`` (string): POSIX path relative to the ``root`` given to the loader, so that
  ``Path(root) / path`` is the image.
- ``subject`` (string): identity, NA where the dataset has none (UTKFace).
- ``expression`` (string): one of :data:`EXPRESSIONS` (``neutral happy sad surprise angry
  disgust fear contempt``) or NA.
- ``expression_source`` (string): the raw label (``AN``, ``happiness``, ``anger``,
  ``happily surprised``, ``first frame``, ``c``).
- ``gender`` (string): ``male``, ``female`` or NA; ``gender_source`` the raw label
  (``1``, ``Male=1``, ``HA4K_120``).
- ``ethnicity`` (string): the source label, lower-case (``white``, ``black``, ``asian``,
  ``indian``, ``others``, ``japanese``, ``caucasian``, ``taiwanese``).
- ``ethnicity_group`` (string): one of :data:`ETHNICITY_GROUPS` (``east_asian``,
  ``sub_saharan_south_indian``, ``caucasian``) or NA.
- ``age`` (Float64): age in years or NA.

Dataset-specific columns follow: JAFFE ``take``, ``picture``; CK+ ``sequence``
(``S010_006``), ``frame``; LFW ``image_number``; CelebA the 40 attributes as booleans named
as in ``list_attr_celeba.txt`` (``Smiling``, ``Male``, ...); CFEE ``category`` (1-22);
DiveFace ``group`` (class folder); Taiwanese ``performance_type`` (0-3),
``performance_type_name``, ``view``, ``take``, ``perceived_expression``,
``perceived_intensity``, ``perceived_entropy``. Skipped files (malformed names, missing
images) are reported with one :class:`DatasetWarning` per loader call, and so are folders
that cannot be listed and broken symbolic links; a wrong or incomplete layout raises one
:class:`DatasetLayoutError` naming what is missing and what was expected.

Each dataset is found either as ``root/<folder>`` (``jaffe``, ``ckplus48``/``ckplus``/``CK+``,
``lfw``, ``utkface``, ``celeba``, ``cfee``, ``diveface``, ``taiwanese``; any case) or with
``root`` pointing at the dataset folder itself.

Expressions
-----------
Every loader decodes its dataset's codes into words and maps the words onto the 8
:data:`EXPRESSIONS` with the one synonym table :data:`EXPRESSION_SYNONYMS`
(:func:`normalize_expression`); labels it does not know stay NA with a warning that counts
them (:func:`normalize_expressions`), never silently.

=============  ============================================================================
dataset        raw label (``expression_source``) -> ``expression``
=============  ============================================================================
JAFFE          NE neutral, HA happy, SA sad, SU surprise, AN angry, DI disgust, FE fear
CK+            folder or code (0-7): neutral, anger -> angry, contempt, disgust, fear, happy,
               sadness -> sad, surprise; ``first frame`` (original layout) -> neutral
LFW            ``expressions.csv``: neutral, happiness -> happy, sadness -> sad, surprise,
               anger -> angry, disgust, fear, contempt
CFEE           categories 1-7: neutral, happy, sad, fearful -> fear, angry, surprised ->
               surprise, disgusted -> disgust; the 15 compound categories 8-22 -> NA
Taiwanese      a (or 0) neutral, b happy, c sad, d angry, e disgusted -> disgust, f fearful ->
               fear, g surprised -> surprise; ``perceived_expression`` (``maxIntCategory``
               1-6: happy, sad, angry, disgust, fear, surprise; no neutral)
manifest       the synonym table, after an optional label map (``label_map=``,
               :func:`read_label_map`, ``--label-map FILE``)
others         UTKFace, CelebA, DiveFace: no expression labels (NA); CelebA's ``Smiling``
               is an attribute, see :func:`smiling`
=============  ============================================================================

:func:`smiling` gives the binary smiling task for any table: True for ``happy``, False for
``neutral``, NA otherwise; CelebA's ``Smiling`` attribute on all its rows.
:func:`expression_labels` gives the expression a blinder is fitted with and an audit reads:
the normalised ``expression``, else by one rule CelebA's ``Smiling`` (True ``happy``, False
``neutral``); :func:`person_ids` qualifies subjects by their dataset (``dataset:subject``).

Manifests
---------
:func:`load_manifest` reads a CSV (``path`` + label columns; UTF-8 with or without BOM, or
Latin-1 with a warning; CRLF or LF). Paths are relative to the manifest's folder unless
``root=`` is given (``--data-root``); paths that leave the root are refused unless
``allow_outside_root=True`` (``--allow-outside-root``). Rows whose file does not exist are
skipped with one warning; rows that name a folder, a FIFO or a broken link are kept (with one
warning) so that embedding records them as failed. ``table.attrs``: ``root`` (the folder the
paths are relative to, as a string) and ``skipped_rows`` (rows dropped for a missing file).
"""

from blindface.datasets._celeba import load_celeba, read_celeba_attributes
from blindface.datasets._cfee import CFEE_CATEGORIES, load_cfee
from blindface.datasets._ckplus import CKPLUS_CODES, load_ckplus
from blindface.datasets._diveface import load_diveface
from blindface.datasets._jaffe import load_jaffe
from blindface.datasets._label_map import read_label_map
from blindface.datasets._labels import (
    SMILING_ATTRIBUTE,
    SMILING_EXPRESSIONS,
    SMILING_LABELS,
    expression_labels,
    person_ids,
    smiling,
)
from blindface.datasets._lfw import load_lfw, load_lfw_pairs
from blindface.datasets._manifest import load_manifest
from blindface.datasets._registry import (
    DATASET_NAMES,
    default_data_root,
    find_datasets,
    load_dataset,
)
from blindface.datasets._schema import (
    ETHNICITY_GROUPS,
    ETHNICITY_TO_GROUP,
    EXPRESSION_SYNONYMS,
    EXPRESSIONS,
    NEUTRAL,
    SCHEMA_COLUMNS,
    DatasetLayoutError,
    DatasetWarning,
    ethnicity_group,
    normalize_expression,
    normalize_expressions,
    normalize_gender,
)
from blindface.datasets._summary import summarize, summarize_datasets, summary_table
from blindface.datasets._taiwanese import PERCEIVED_CATEGORIES, PERFORMANCE_TYPES, load_taiwanese
from blindface.datasets._utkface import load_utkface

__all__ = [
    "CFEE_CATEGORIES",
    "CKPLUS_CODES",
    "DATASET_NAMES",
    "ETHNICITY_GROUPS",
    "ETHNICITY_TO_GROUP",
    "EXPRESSIONS",
    "NEUTRAL",
    "EXPRESSION_SYNONYMS",
    "PERCEIVED_CATEGORIES",
    "PERFORMANCE_TYPES",
    "SCHEMA_COLUMNS",
    "SMILING_ATTRIBUTE",
    "SMILING_EXPRESSIONS",
    "SMILING_LABELS",
    "DatasetLayoutError",
    "DatasetWarning",
    "default_data_root",
    "ethnicity_group",
    "expression_labels",
    "find_datasets",
    "load_celeba",
    "load_cfee",
    "load_ckplus",
    "load_dataset",
    "load_diveface",
    "load_jaffe",
    "load_lfw",
    "load_lfw_pairs",
    "load_manifest",
    "load_taiwanese",
    "load_utkface",
    "normalize_expression",
    "normalize_expressions",
    "normalize_gender",
    "person_ids",
    "read_celeba_attributes",
    "read_label_map",
    "smiling",
    "summarize",
    "summarize_datasets",
    "summary_table",
]
