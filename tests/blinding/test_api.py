"""The scikit-learn contract shared by all methods, and input validation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import blindface
from blindface.blinding import (
    INLP,
    LEACE,
    ExpressionInvariantMap,
    LearningNotToLearn,
    SensitiveNets,
    WithinSubjectProjection,
)

from .conftest import TINY

METHODS = list(TINY)


def _fit(name, data, **labels):
    labels = {"expression": data.expression, "subject": data.subject, **labels}
    return TINY[name]().fit(data.X, **labels)


def test_top_level_reexports():
    assert blindface.SensitiveNets is SensitiveNets
    assert blindface.LEACE is LEACE and blindface.INLP is INLP
    assert blindface.LearningNotToLearn is LearningNotToLearn
    assert blindface.WithinSubjectProjection is WithinSubjectProjection
    assert blindface.load is blindface.blinding.load


@pytest.mark.parametrize("name", METHODS)
def test_fitted_shapes_and_attributes(fitted, tiny_data, name):
    model = fitted[name]
    Z = model.transform(tiny_data.X)
    assert Z.dtype == np.float32 and Z.shape == (len(tiny_data.X), model.n_features_out_)
    assert np.isfinite(Z).all()
    assert model.n_features_in_ == 8
    assert list(model.classes_) == ["happy", "neutral", "sad"]
    assert len(model.get_feature_names_out()) == model.n_features_out_


@pytest.mark.parametrize("name", METHODS)
def test_not_fitted_error(tiny_data, name):
    with pytest.raises(NotFittedError):
        TINY[name]().transform(tiny_data.X)


@pytest.mark.parametrize("name", METHODS)
def test_params_clone_and_determinism(fitted, tiny_data, name):
    model = TINY[name]()
    params = model.get_params()
    twin = clone(model)
    assert twin.get_params() == params and twin is not model
    assert model.set_params(**params) is model
    refit = _fit(name, tiny_data)
    np.testing.assert_array_equal(refit.transform(tiny_data.X), fitted[name].transform(tiny_data.X))


@pytest.mark.parametrize("name", METHODS)
def test_runs_in_a_pipeline_with_keyword_labels(tiny_data, name):
    pipe = Pipeline([("blind", TINY[name]()), ("scale", StandardScaler())])
    pipe.fit(tiny_data.X, blind__expression=tiny_data.expression, blind__subject=tiny_data.subject)
    assert pipe.transform(tiny_data.X).shape[0] == len(tiny_data.X)
    labels = dict(expression=tiny_data.expression, subject=tiny_data.subject)
    Z = TINY[name]().fit_transform(tiny_data.X, **labels)
    assert Z.shape[0] == len(tiny_data.X)


@pytest.mark.parametrize("name", METHODS)
def test_missing_labels_in_all_spellings(tiny_data, name):
    """None, NaN and pd.NA all mark a missing label; results do not depend on the spelling."""
    expr = pd.Series(tiny_data.expression, dtype="string")  # None -> pd.NA
    with_nan = np.where(pd.isna(expr), np.nan, expr.astype(object))
    a = _fit(name, tiny_data, expression=expr).transform(tiny_data.X)
    b = _fit(name, tiny_data, expression=with_nan).transform(tiny_data.X)
    np.testing.assert_array_equal(a, b)


def test_integer_labels_and_neutral_parameter(tiny_data):
    codes = {"neutral": 0, "happy": 1, "sad": 2}
    expr = [codes[e] if e is not None else None for e in tiny_data.expression]
    model = TINY["SensitiveNets"]().set_params(neutral=0)
    model.fit(tiny_data.X, expression=expr, subject=tiny_data.subject)
    assert list(model.classes_) == [0, 1, 2]
    with pytest.raises(ValueError, match="neutral='neutral' is not one of"):
        TINY["SensitiveNets"]().fit(tiny_data.X, expression=expr, subject=tiny_data.subject)


@pytest.mark.parametrize("name", METHODS)
@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda X, e, s: (X[0], e, s), "Expected 2D array"),
        (
            lambda X, e, s: (np.where(np.arange(len(X))[:, None] == 3, np.nan, X), e, s),
            "NaN or inf",
        ),
        (lambda X, e, s: (X, e[:-1], s), "expression has shape"),
        (lambda X, e, s: (X, e, s[:-2]), "subject has shape"),
        (lambda X, e, s: (X, np.where(e == None, None, "happy"), s), "at least 2 distinct"),  # noqa: E711
        (lambda X, e, s: (X, np.where(e == None, None, 1.5), s), "strings or all integers"),  # noqa: E711
    ],
)
def test_bad_inputs_give_clear_errors(tiny_data, name, mutate, message):
    X, e, s = mutate(tiny_data.X, tiny_data.expression, tiny_data.subject)
    with pytest.raises(ValueError, match=message):
        TINY[name]().fit(X, expression=e, subject=s)


@pytest.mark.parametrize("name", ["SensitiveNets", "LearningNotToLearn", "WithinSubjectProjection"])
def test_identity_methods_need_subjects(tiny_data, name):
    with pytest.raises(ValueError, match="subject"):
        TINY[name]().fit(tiny_data.X, expression=tiny_data.expression)


@pytest.mark.parametrize("name", METHODS)
def test_transform_checks_the_input_dimension(fitted, name):
    with pytest.raises(ValueError, match="is expecting 8 features"):
        fitted[name].transform(np.zeros((2, 5), np.float32))


def test_lnl_primary_task_selectable(tiny_data):
    gender = np.where(np.arange(len(tiny_data.X)) % 2 == 0, "female", "male")
    model = TINY["LearningNotToLearn"]().set_params(primary="gender")
    model.fit(tiny_data.X, expression=tiny_data.expression, gender=gender)
    assert list(model.primary_classes_) == ["female", "male"]
    with pytest.raises(ValueError, match="primary=.age. must be one of"):
        TINY["LearningNotToLearn"]().set_params(primary="age").fit(
            tiny_data.X, expression=tiny_data.expression, subject=tiny_data.subject
        )


def test_expression_only_rows_train_the_emotion_side(tiny_data):
    """Rows with an expression but no subject are accepted (CFEE-style rows)."""
    subject = np.where(tiny_data.is_emotion_row, None, tiny_data.subject)
    for name in ("SensitiveNets", "LearningNotToLearn"):
        model = _fit(name, tiny_data, subject=subject)
        assert model.transform(tiny_data.X).shape[0] == len(tiny_data.X)


class _YAsExpression:
    """scikit-learn's generic checks pass labels as ``y``; our fit takes them by keyword."""

    def fit(self, X, y=None):
        y = np.zeros(len(X), int) if y is None else np.asarray(y)
        return super().fit(X, expression=y)


class CheckedLEACE(_YAsExpression, LEACE):
    pass


class CheckedINLP(_YAsExpression, INLP):
    pass


class CheckedWithinSubject(WithinSubjectProjection):
    def fit(self, X, y=None):
        y = np.zeros(len(X), int) if y is None else np.asarray(y)
        return super().fit(X, expression=y, subject=np.zeros(len(y), int))  # one person


class CheckedSensitiveNets(SensitiveNets):
    def fit(self, X, y=None):
        y = np.zeros(len(X), int) if y is None else np.asarray(y)
        return super().fit(X, expression=y, subject=y)


class CheckedInvariant(ExpressionInvariantMap):
    def fit(self, X, y=None):
        y = np.zeros(len(X), int) if y is None else np.asarray(y)
        # the j-th row of each class belongs to person j: every person shows several labels
        people = np.zeros(len(y), int)
        for label in np.unique(y):
            rows = np.flatnonzero(y == label)
            people[rows] = np.arange(len(rows)) % max(4, len(y) // 4)
        return super().fit(X, expression=y, subject=people)


class CheckedLNL(LearningNotToLearn):
    def fit(self, X, y=None):
        y = np.zeros(len(X), int) if y is None else np.asarray(y)
        return super().fit(X, expression=y, subject=y)


def _expected_failures(estimator):
    if isinstance(estimator, SensitiveNets):
        reason = "these checks' y lacks class 0, our neutral class: SensitiveNets refuses that"
        return {"check_estimators_dtypes": reason, "check_fit2d_1feature": reason}
    return {}


@parametrize_with_checks(
    [
        CheckedLEACE(),
        CheckedINLP(max_iter=2, random_state=0),
        CheckedSensitiveNets(
            hidden_layer_sizes=(8,), max_iter=1, classifier_epochs=1, neutral=0, random_state=0
        ),
        CheckedLNL(hidden_layer_sizes=(8,), max_iter=1, random_state=0),
        CheckedWithinSubject(n_components=1),
        CheckedInvariant(
            hidden_layer_sizes=(8,), max_iter=1, steps_per_iter=2, batch_size=8, random_state=0
        ),
    ],
    expected_failed_checks=_expected_failures,
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_which_methods_l2_normalise_their_output(fitted, tiny_data):
    """As the README says: the three methods trained on the unit sphere normalise; the linear
    erasers and LnL are not re-normalised (cosine comparisons do not see the norm)."""
    norms = {name: np.linalg.norm(m.transform(tiny_data.X), axis=1) for name, m in fitted.items()}
    unit = {name for name, n in norms.items() if np.allclose(n, 1, atol=1e-5)}
    assert unit == {"SensitiveNets", "ExpressionInvariantMap", "WithinPersonCollapse"}
    assert unit == {name for name, m in fitted.items() if type(m)._normalize_output}
