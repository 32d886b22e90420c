"""Calibration of the n-gram coefficient where its truth is known: 1 - JSD(P, Q) of two
populations' hashed n-gram distributions, under the null (P = Q) and two alternatives.

Examples are text-like and shaped as the shipped defaults (`n` = 2, 10,000 `buckets`): 20-120
words each, drawn from a Zipf vocabulary of 2,000 words reweighted by one of 8 topics per example
(so words cluster within examples, as in real text), and counted as their unigrams and bigrams,
each hashed to a bucket by a fixed random table (SHA-256 is as uniform). The population
distribution is computed exactly from the same model. The alternatives: a dataset whose examples
come 30% from P's source and 70% from an unrelated one (1 - JSD = 0.796), and the unrelated
source alone (0.589). Every replicate goes through `ngram_alignment`, as the pipeline's
alignment tables do.

The landed estimator (1 - the excess JSD over random splits) read these 0.829 and 0.650 at 35
examples, covering the truth 76% and 0% of the time (and its null CI was 9 SDs wide).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse

from dataalign.align.ngram import js_coefficient, ngram_alignment

BUCKETS, WORDS, TOPICS = 10_000, 2_000, 8
MEAN_LENGTH = 70.0  # words per example, uniform on 20..120
REPLICATES = 200
EXAMPLES = 35
DRAWS = 60  # candidate samples against one benchmark sample (train_se)


class World:
    """The hash of every unigram and bigram (word ids) to a bucket."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.unigram = rng.integers(0, BUCKETS, WORDS)
        self.bigram = rng.integers(0, BUCKETS, WORDS * WORDS)


class Source:
    """Examples of one kind: Zipf word frequencies (in `ranks` order) reweighted per topic."""

    def __init__(self, world: World, rng: np.random.Generator, ranks: np.ndarray) -> None:
        self.world = world
        zipf = np.empty(WORDS)
        zipf[ranks] = 1.0 / np.arange(1, WORDS + 1)
        topics = zipf * np.exp(rng.standard_normal((TOPICS, WORDS)))
        self.topics = topics / topics.sum(axis=1, keepdims=True)
        self.cumulative = np.cumsum(self.topics, axis=1)

    def population(self) -> np.ndarray:
        """The expected share of each bucket among all n-grams (unigrams and bigrams)."""
        world = self.world
        unigrams = sum(np.bincount(world.unigram, p, BUCKETS) for p in self.topics) / TOPICS
        bigrams = sum(
            np.bincount(world.bigram, np.outer(p, p).ravel(), BUCKETS) for p in self.topics
        )
        bigrams /= TOPICS
        # an example of L words has L unigrams and L - 1 bigrams; L is independent of the topic
        return (MEAN_LENGTH * unigrams + (MEAN_LENGTH - 1) * bigrams) / (2 * MEAN_LENGTH - 1)

    def examples(self, rng: np.random.Generator, count: int) -> list[np.ndarray]:
        """Each example's n-gram buckets."""
        rows = []
        for length, topic in zip(
            rng.integers(20, 121, count), rng.integers(0, TOPICS, count), strict=True
        ):
            words = np.searchsorted(self.cumulative[topic], rng.random(length))
            words = np.minimum(words, WORDS - 1)
            bigrams = words[:-1] * WORDS + words[1:]
            rows.append(np.concatenate([self.world.unigram[words], self.world.bigram[bigrams]]))
        return rows


class Mixture:
    """Examples drawn from `second` with probability `share`, else from `first`."""

    def __init__(self, first: Source, second: Source, share: float) -> None:
        self.first, self.second, self.share = first, second, share

    def population(self) -> np.ndarray:
        return (1 - self.share) * self.first.population() + self.share * self.second.population()

    def examples(self, rng: np.random.Generator, count: int) -> list[np.ndarray]:
        second = rng.random(count) < self.share
        rows = self.first.examples(rng, int((~second).sum()))
        rows += self.second.examples(rng, int(second.sum()))
        return [rows[k] for k in rng.permutation(count)]


def counts(rows: list[np.ndarray]) -> sparse.csr_matrix:
    """The examples x buckets count matrix, as `count_matrix` builds it from the embedding."""
    example = np.repeat(np.arange(len(rows)), [len(r) for r in rows])
    matrix = sparse.coo_matrix(
        (np.ones(len(example)), (example, np.concatenate(rows))), (len(rows), BUCKETS)
    )
    return matrix.tocsr()


@pytest.fixture(scope="module")
def populations() -> dict[str, tuple[Source, Source | Mixture, float]]:
    rng = np.random.default_rng(1)
    world = World(rng)
    first = Source(world, rng, np.arange(WORDS))
    unrelated = Source(world, rng, rng.permutation(WORDS))
    designs = {"null": first, "mixture": Mixture(first, unrelated, 0.7), "unrelated": unrelated}
    return {
        name: (first, other, float(js_coefficient(first.population(), other.population())))
        for name, other in designs.items()
    }


@pytest.mark.slow
@pytest.mark.parametrize("design", ["null", "mixture", "unrelated"])
def test_ngram_coefficient_is_unbiased_and_covered_under_the_null_and_alternatives(
    populations, design
):
    """At 35 vs 35 examples: the mean estimate is within 0.02 of the true 1 - JSD, and the 95%
    CI covers it in 85-99% of 200 replicates (the null may reach 100%: there the JSD is at its
    minimum, where every resampling SE is conservative), with a width that stays informative
    (under 1, and under 10 SDs of the estimates: 2.5 times an exact interval's 3.92)."""
    first, other, truth = populations[design]
    rng = np.random.default_rng(["null", "mixture", "unrelated"].index(design))
    if design == "null":
        assert truth == pytest.approx(1.0)
    else:
        assert truth == pytest.approx({"mixture": 0.796, "unrelated": 0.589}[design], abs=0.001)
    values, covered, widths = [], [], []
    for replicate in range(REPLICATES):
        a = counts(first.examples(rng, EXAMPLES))
        b = counts(other.examples(rng, EXAMPLES))
        result = ngram_alignment(a, b, resamples=200, seed=replicate)
        assert result.ci_low <= result.value <= result.ci_high and result.n <= 2 * EXAMPLES
        values.append(result.value)
        covered.append(result.ci_low <= truth <= result.ci_high)
        widths.append(result.ci_high - result.ci_low)
    assert abs(np.mean(values) - truth) < 0.02
    assert np.mean(covered) >= 0.85
    if design != "null":
        assert np.mean(covered) <= 0.99
    assert np.mean(widths) < 1 and np.mean(widths) < 10 * np.std(values)


@pytest.mark.slow
@pytest.mark.parametrize("design", ["null", "mixture"])
def test_train_se_is_the_spread_of_draws_against_one_benchmark(populations, design):
    """One fixed benchmark sample, 60 independent candidate samples of 35 examples: the
    candidate's alignment varies by what `train_se` says (its root mean square within 0.75-1.4
    of the estimates' SD), while `se`, which also resamples the benchmark, says more. A
    ranking's tests read `train_se`."""
    first, other, _ = populations[design]
    rng = np.random.default_rng(10 + ["null", "mixture"].index(design))
    benchmark = counts(first.examples(rng, EXAMPLES))
    results = [
        ngram_alignment(counts(other.examples(rng, EXAMPLES)), benchmark, 200, seed)
        for seed in range(DRAWS)
    ]
    spread = np.std([r.value for r in results], ddof=1)
    train_se = np.sqrt(np.mean([r.train_se**2 for r in results]))
    se = np.sqrt(np.mean([r.se**2 for r in results]))
    assert 0.75 <= train_se / spread <= 1.4
    assert se > train_se
