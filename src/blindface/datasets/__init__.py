"""Face datasets as one uniform table per dataset (one row per image), without decoding images.

Every loader returns a :class:`pandas.DataFrame` sorted by ``path`` with these columns
(pandas nullable dtypes; missing values are ``pd.NA``):

- ``dataset`` (string): dataset name (``jaffe``, ``ckplus``, ...; manifest: the CSV stem).
- ``path`` (string): POSIX path relative to the ``root`` given to the loader, so that
  ``Path(root) / path`` is the image.
- ``subject`` (string): identity, NA where the dataset has none (UTKFace).
- ``expression`` (string): one of :data:`EXPRESSIONS` (``neutral happy sad surprise angry
  disgust fear contempt``) or NA.
- ``expression_source`` (string): the raw label (``AN``, ``happiness``, ``anger``,
  ``happily surprised``, ``first frame``).
- ``gender`` (string): ``male``, ``female`` or NA; ``gender_source`` the raw label
  (``1``, ``Male=1``, ``HA4K_120``).
- ``ethnicity`` (string): the source label, lower-case (``white``, ``black``, ``asian``,
  ``indian``, ``others``, ``japanese``, ``caucasian``).
- ``ethnicity_group`` (string): one of :data:`ETHNICITY_GROUPS` (``east_asian``,
  ``sub_saharan_south_indian``, ``caucasian``) or NA.
- ``age`` (Float64): age in years or NA.

Dataset-specific columns follow: JAFFE ``take``, ``picture``; CK+ ``sequence``
(``S010_006``), ``frame``; LFW ``image_number``; CelebA the 40 attributes as booleans named
as in ``list_attr_celeba.txt`` (``Smiling``, ``Male``, ...); CFEE ``category`` (1-22);
DiveFace ``group`` (class folder). Skipped files (malformed names, missing images) are
reported with one :class:`DatasetWarning` per loader call; a wrong or incomplete layout
raises one :class:`DatasetLayoutError` naming what is missing and what was expected.

Each dataset is found either as ``root/<folder>`` (``jaffe``, ``ckplus48``/``ckplus``/``CK+``,
``lfw``, ``utkface``, ``celeba``, ``cfee``, ``diveface``; any case) or with ``root`` pointing
at the dataset folder itself.
"""

from blindface.datasets._celeba import load_celeba, read_celeba_attributes
from blindface.datasets._cfee import CFEE_CATEGORIES, load_cfee
from blindface.datasets._ckplus import CKPLUS_CODES, load_ckplus
from blindface.datasets._diveface import load_diveface
from blindface.datasets._jaffe import load_jaffe
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
    SCHEMA_COLUMNS,
    DatasetLayoutError,
    DatasetWarning,
    ethnicity_group,
    normalize_expression,
    normalize_expressions,
    normalize_gender,
)
from blindface.datasets._summary import summarize, summarize_datasets, summary_table
from blindface.datasets._utkface import load_utkface

__all__ = [
    "CFEE_CATEGORIES",
    "CKPLUS_CODES",
    "DATASET_NAMES",
    "ETHNICITY_GROUPS",
    "ETHNICITY_TO_GROUP",
    "EXPRESSIONS",
    "EXPRESSION_SYNONYMS",
    "SCHEMA_COLUMNS",
    "DatasetLayoutError",
    "DatasetWarning",
    "default_data_root",
    "ethnicity_group",
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
    "load_utkface",
    "normalize_expression",
    "normalize_expressions",
    "normalize_gender",
    "read_celeba_attributes",
    "summarize",
    "summarize_datasets",
    "summary_table",
]
