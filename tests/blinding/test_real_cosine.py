"""On real SFace embeddings every method's output is compared by cosine like its input: the
same/different-person ROC AUC on held-out LFW people stays within 0.5 point of the input's."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from blindface.blinding import METHODS

pytestmark = [pytest.mark.data, pytest.mark.slow]


@pytest.fixture(scope="session")
def real(data_dir, tmp_path_factory):
    """JAFFE (expressions) and 240 LFW images of 60 people, embedded once into a temp cache."""
    from blindface.datasets import load_jaffe, load_lfw, normalize_expressions
    from blindface.store import embed_dataset, read_store

    cache = tmp_path_factory.mktemp("real-embeddings")
    lfw = load_lfw(data_dir / "lfw")
    counts = lfw["subject"].value_counts()
    people = sorted(counts[counts >= 4].index)[::7][:60]
    lfw = lfw[lfw["subject"].isin(people)].groupby("subject").head(4).reset_index(drop=True)
    stores = {}
    for name, table, root in (
        ("lfw", lfw, data_dir / "lfw"),
        ("jaffe", load_jaffe(data_dir / "jaffe"), data_dir / "jaffe"),
    ):
        path = embed_dataset(table, root, cache / f"{name}.parquet", n_jobs=2, progress=False)
        store = read_store(path)
        table = store.table[store.ok].reset_index(drop=True)
        expression = np.array(normalize_expressions(table["expression"]), dtype=object)
        subject = np.array([f"{name}:{s}" for s in table["subject"]], dtype=object)
        stores[name] = (store.embeddings[store.ok], expression, subject)
    return stores


def _auc(Z, subject):
    unit = Z / np.linalg.norm(Z, axis=1, keepdims=True)
    upper = np.triu_indices(len(Z), 1)
    same = (subject[:, None] == subject[None, :])[upper]
    return roc_auc_score(same, (unit @ unit.T)[upper])


@pytest.mark.parametrize("name", list(METHODS))
def test_cosine_auc_is_kept(real, name):
    X_lfw, _, s_lfw = real["lfw"]
    people = np.unique(s_lfw)
    held = np.isin(s_lfw, people[::2])
    X_emo, e_emo, s_emo = real["jaffe"]
    X = np.concatenate([X_emo, X_lfw[~held]])
    expression = np.concatenate([e_emo, np.full(int((~held).sum()), None, dtype=object)])
    subject = np.concatenate([s_emo, s_lfw[~held]])
    model = METHODS[name].create()
    if "random_state" in model.get_params():
        model.set_params(random_state=0)
    model.fit(X, expression=expression, subject=subject)
    before = _auc(X_lfw[held], s_lfw[held])
    after = _auc(model.transform(X_lfw[held]), s_lfw[held])
    print(f"{name}: cosine AUC {before:.4f} -> {after:.4f}")
    assert after >= before - 0.005
