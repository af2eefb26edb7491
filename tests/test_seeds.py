"""One seed, independent streams per stage: the same stage draws the same, two stages differ."""

from __future__ import annotations

import numpy as np

from blindface._seeds import derive, stream


def test_a_stage_is_reproducible_and_stages_are_independent():
    first = stream(0, "celeba-people").permutation(1000)
    assert np.array_equal(first, stream(0, "celeba-people").permutation(1000))
    # the mistake this replaces: default_rng(seed) in two stages draws one permutation twice
    assert np.array_equal(
        np.random.default_rng(0).permutation(1000), np.random.default_rng(0).permutation(1000)
    )
    other = stream(0, "celeba-subject-split").permutation(1000)
    assert not np.array_equal(first, other)
    assert abs(np.corrcoef(first, other)[0, 1]) < 0.1
    assert not np.array_equal(first, stream(1, "celeba-people").permutation(1000))


def test_derive_gives_an_int_seed_per_stage():
    seeds = {derive(7, stage) for stage in ("a", "b", "c")}
    assert len(seeds) == 3 and all(0 <= s < 2**31 - 1 for s in seeds)
    assert derive(7, "a") == derive(7, "a")
