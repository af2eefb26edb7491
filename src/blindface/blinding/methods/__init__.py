"""The blinding methods, one module each; :mod:`blindface.blinding` re-exports them lazily."""
