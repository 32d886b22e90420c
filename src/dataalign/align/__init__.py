"""Alignment coefficients: embed each dataset once, then combine pairs cheaply.

Every metric shares that shape and is a plug-in of `dataalign.align.metrics`: Task2Vec (Fisher
embeddings of a probe LM), GZIP (normalised compression distance), SBERT (sentence-embedding
cosine similarity) and n-gram (hashed n-gram distributions).
Importing the package loads no torch: the modules that run a model are imported by the jobs
that run them.
"""

from dataalign.align.stats import Alignment, alignment_matrix

__all__ = ["Alignment", "alignment_matrix"]
