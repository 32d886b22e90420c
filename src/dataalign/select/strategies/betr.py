"""BETR (Mizrahi et al., 2025): label a seeded sample of the pool by its sentence-embedding
similarity to the target, fit the `classifier` strategy's cheap classifier on those labels, and
score every pool example with the classifier (`dataalign.select.classifier`).

Only the sample and the target are embedded, so the sentence model's cost stays that of the
sample whatever the pool's size. The sample is embedded in the statistic pass (a CPU job: the
sample is small; a GPU is used where the job finds one), each pool batch's share on its own, so
an example's embedding is the same in any sharding (a shard holds whole batches); the scoring
pass embeds the target, labels the sample and fits.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from dataalign.errors import DatasetError
from dataalign.plugins import option
from dataalign.select import classifier
from dataalign.select.classifier import draw_sample, fit, log_odds, merged
from dataalign.select.strategies import Strategy, StrategyView, sbert


def embedded_sample(pool, settings, features) -> np.ndarray:
    """The shard's share of the pool sample with its unit sentence embeddings, packed."""
    from dataalign.align.metrics.sbert import sentence_model
    from dataalign.align.sbert import embed_sentences

    sample, texts = draw_sample(pool, settings, features)
    if len(sample):
        model = sentence_model(settings["model"])
        batches = [
            embed_sentences(model, batch, settings["batch_size"]) for batch in texts if batch
        ]
        sample = replace(sample, embeddings=np.vstack(batches))
    return sample.packed()


def similarity(sample: np.ndarray, target: np.ndarray, how: str) -> np.ndarray:
    """Each sampled example's cosine with the nearest target example (`max`) or the mean
    cosine over them (`mean`, the `sbert` strategy's score); unit embeddings."""
    if how == "mean":
        return sample @ target.mean(axis=0)
    return (sample @ target.T).max(axis=1)


def labels(closeness: np.ndarray, share: float) -> np.ndarray:
    """1 for the `share` of the sample closest to the target (ties: key order), else 0."""
    positives = int(share * len(closeness))
    if not 0 < positives < len(closeness):
        raise DatasetError(
            f"betr: the top {share:g} of a pool sample of {len(closeness)} labels {positives} "
            "examples target-like, and the fit needs both kinds. Fix: raise `sample`."
        )
    labelled = np.zeros(len(closeness))
    labelled[np.argsort(-closeness, kind="stable")[:positives]] = 1
    return labelled


def score(pool, index, target, settings) -> np.ndarray:
    """Each example's log-odds, under the classifier fitted on the labelled sample, of being
    among the sample's closest to the target."""
    from dataalign.align.metrics.sbert import sentence_model
    from dataalign.align.sbert import embed_sentences

    sample = settings["statistic"]
    aimed = embed_sentences(sentence_model(settings["model"]), target, settings["batch_size"])
    closeness = similarity(sample.embeddings, aimed, settings["similarity"])
    return log_odds(fit(sample.counts, labels(closeness, settings["positive"])), settings)


def settings(entry, view: StrategyView) -> dict[str, Any]:
    """Its options, the sentence model resolved as the `sbert` strategy resolves it."""
    return {**{key: entry[key] for key in OPTIONS}, **sbert.settings(entry, view)}


OPTIONS = {
    "model": option(
        None,
        "sentence model under `models:` (null: `alignment.sbert.model`) that embeds the target "
        "and the pool sample",
        type=["string", "null"],
    ),
    "batch_size": sbert.OPTIONS["batch_size"],
    "similarity": option(
        "max",
        "a sampled example's similarity to the target: its cosine with the nearest target "
        "example (`max`) or the mean over them (`mean`)",
        enum=["max", "mean"],
    ),
    "positive": option(
        0.1,
        "share of the pool sample, the most similar, labelled target-like for the fit",
        type="number",
        exclusiveMinimum=0,
        exclusiveMaximum=1,
    ),
    **classifier.OPTIONS,
}
STRATEGY = Strategy(
    "betr",
    score=score,
    options=OPTIONS,
    settings=settings,
    statistic=embedded_sample,
    combine=merged,
    check=sbert.check,
)
