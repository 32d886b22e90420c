"""Alignment coefficients: embed each dataset once, then combine pairs cheaply.

Every metric shares that shape and is a plug-in of `dataalign.align.metrics`: Task2Vec (Fisher
embeddings of a probe LM), GZIP (normalised compression distance), SBERT (sentence-embedding
cosine similarity) and n-gram (hashed n-gram distributions).
"""

from dataalign.align.stats import Alignment, alignment_matrix
from dataalign.align.task2vec import Task2VecOptions, embed_task2vec, task2vec_alignment

__all__ = [
    "Alignment",
    "Task2VecOptions",
    "alignment_matrix",
    "embed_task2vec",
    "task2vec_alignment",
]
