"""Adding a metric or a strategy is one module: a toy of each, with options, dropped beside the
real ones, is checked, planned and run by the unchanged workflow and library; its options are
part of the config schema, and a misspelt one stops the run in one line."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from helpers import run_snakemake, validated, write_config
from test_select_workflow import select_config

import dataalign.align.metrics as metrics
import dataalign.select.strategies as strategies
from dataalign.errors import ConfigError

TOY_METRIC = """
import pandas as pd
from dataalign.align.metrics import Metric
from dataalign.align.stats import Alignment
from dataalign.plugins import option


def embed(texts, settings, name):
    return pd.DataFrame({"length": [len(t) for t in texts]})


def align(a, b, settings, workers):
    ratio = settings["scale"] * a["length"].mean() / b["length"].mean()
    return Alignment(ratio, 0.0, 0.0, ratio, ratio, len(a) + len(b))


OPTIONS = {"scale": option(1.0, "factor of the length ratio", type="number", exclusiveMinimum=0)}
METRIC = Metric(
    "toy_length", on_gpu=False, embed=embed, align=align, align_keys=("scale",), options=OPTIONS
)
"""

TOY_STRATEGY = """
import numpy as np
from dataalign.plugins import option
from dataalign.select.strategies import Strategy


def score(pool, index, target, settings):
    sign = 1 if settings["longest"] else -1
    return sign * index["n_tokens"].to_numpy(np.float64)  # shortest first by default


OPTIONS = {"longest": option(False, "the longest examples first", type="boolean")}
STRATEGY = Strategy("toy_short", score=score, options=OPTIONS)
"""


@pytest.fixture
def toys(tmp_path, monkeypatch):
    """The toy modules in their own folders, on the plug-in packages' search paths."""
    for package, source, name in (
        (metrics, TOY_METRIC, "toy_length"),
        (strategies, TOY_STRATEGY, "toy_short"),
    ):
        folder = tmp_path / package.__name__
        folder.mkdir()
        (folder / f"{name}.py").write_text(source)
        monkeypatch.setattr(package, "__path__", [*package.__path__, str(folder)])
        package.registry.cache_clear()
    yield
    metrics.registry.cache_clear()
    strategies.registry.cache_clear()


def toy_config(fixture_data, tiny_lm_dir) -> dict:
    config = select_config(fixture_data, tiny_lm_dir)
    experiment = config["experiments"]["choose"]
    experiment["strategies"] = {"random": {}, "toy_short": {"longest": False}}
    experiment["metrics"] = ["gzip", "toy_length"]
    return config


def test_a_toy_metric_and_strategy_are_planned_without_other_edits(
    toys, fixture_data, tiny_lm_dir, tmp_path
):
    config = toy_config(fixture_data, tiny_lm_dir)
    jobs = run_snakemake(tmp_path, write_config(config, tmp_path / "c.yaml"), dryrun=True)
    by_rule = pd.DataFrame([{"rule": j.rule, **j.wildcards} for j in jobs])
    # a CPU metric embeds in the CPU rule, aligns and gets its tables like any other
    assert set(by_rule.query("rule == 'featurize'")["metric"]) == {"gzip", "toy_length"}
    assert "toy_length" in set(by_rule.query("rule == 'correlate'")["metric"])
    # the strategy scores the pool once on CPU and chooses once per seed
    assert set(by_rule.query("rule == 'score_pool'")["strategy"]) == {"random", "toy_short"}
    assert (by_rule.query("rule == 'select'")["strategy"] == "toy_short").sum() == 2


def test_the_toys_run_through_the_librarys_entry_points(toys):
    from dataalign.align.metrics import align_embeddings, embed_subset
    from dataalign.select import ScoredShard, choose

    a = embed_subset("toy_length", ["ab", "abcd"], {}, "a")
    b = embed_subset("toy_length", ["abc"], {}, "b")
    assert align_embeddings("toy_length", a, b, {"scale": 1.0}).value == pytest.approx(1.0)
    index = pd.DataFrame({"part": [0] * 4, "n_tokens": [5, 1, 3, 2], "excluded": [False] * 4})
    scores = strategies.score_pool("toy_short", None, index, [], {"longest": False})
    shard = ScoredShard(*(index[c].to_numpy() for c in ("part", "n_tokens", "excluded")), scores)
    assert list(choose([shard], "toy_short", 3, seed=0).positions) == [1, 3]


def test_the_toys_options_get_their_defaults_and_reach_their_jobs(toys, fixture_data, tiny_lm_dir):
    from dataalign.plan.params import align_settings, strategy_settings

    config = toy_config(fixture_data, tiny_lm_dir)
    config["experiments"]["choose"]["strategies"]["toy_long"] = {"method": "toy_short"}
    config = validated(config)
    assert config["experiments"]["choose"]["strategies"]["toy_long"]["longest"] is False
    assert strategy_settings(config, "choose", "toy_short") == {"longest": False}
    assert align_settings(config, "toy_length")["scale"] == 1.0


MISSPELT = {
    "strategy": (
        lambda c: c["experiments"]["choose"]["strategies"]["toy_short"].update(longst=True),
        "config key experiments.choose.strategies.toy_short: unknown option 'longst' for method "
        "toy_short (its options: longest, temperature). Fix: remove or rename it; "
        "config/README.md lists each method's options.",
    ),
    "metric": (
        lambda c: c.setdefault("alignment", {}).update(toy_length={"scal": 3}),
        "config key alignment.toy_length: Additional properties are not allowed ('scal' was "
        "unexpected). Fix: remove or rename it; config/README.md lists every key.",
    ),
}


@pytest.mark.parametrize("case", MISSPELT)
def test_a_misspelt_option_of_a_toy_stops_the_dry_run_in_one_line(
    toys, fixture_data, tiny_lm_dir, tmp_path, case
):
    edit, line = MISSPELT[case]
    config = toy_config(fixture_data, tiny_lm_dir)
    edit(config)
    with pytest.raises(ConfigError) as refused:
        validated(config)
    assert str(refused.value) == line
    with pytest.raises(Exception, match=re.escape(line)):
        run_snakemake(tmp_path, write_config(config, tmp_path / "c.yaml"), dryrun=True)
    assert not (tmp_path / "results").exists()


def test_a_real_methods_option_is_refused_on_another(fixture_data, tiny_lm_dir):
    """`level` is gzip's; DSIR never read it, and now says so."""
    config = select_config(fixture_data, tiny_lm_dir)
    config["experiments"]["choose"]["strategies"]["dsir"] = {"level": 3}
    with pytest.raises(
        ConfigError,
        match=r"^config key experiments.choose.strategies.dsir: unknown option 'level' for "
        r"method dsir \(its options: buckets, min_example_length, n, temperature\)",
    ):
        validated(config)


def test_without_its_module_the_toy_is_an_unknown_name(fixture_data, tiny_lm_dir):
    metrics.registry.cache_clear()
    with pytest.raises(ConfigError, match="no alignment metric 'toy_length'"):
        validated(toy_config(fixture_data, tiny_lm_dir))
