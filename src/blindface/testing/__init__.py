"""Synthetic face embeddings with a known truth, for tests and benchmarks of blinding methods."""

from blindface.testing._synthetic import EXPRESSIONS, SyntheticEmbeddings, make_embeddings

__all__ = ["EXPRESSIONS", "SyntheticEmbeddings", "make_embeddings"]
