"""Benchmark scores from lm-evaluation-harness, on an already-loaded panel model.

lm-eval's stock tasks fetch their data from the Hub. dataalign ships task YAMLs for GSM8K,
ARC-Challenge and MMLU that read local files instead (`dataalign/panel/lm_eval_tasks/`); their
`data_files` are relative to a data directory, which `task_configs` makes absolute. Any other
task name goes to lm-eval as is (stock tasks online, or the user's own via `include_path`).
"""

from __future__ import annotations

import glob
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from dataalign.errors import DatasetError

TASKS_DIR = Path(__file__).parent / "lm_eval_tasks"


def shipped_tasks() -> list[str]:
    """Names of the offline task YAMLs dataalign ships."""
    return sorted(path.stem for path in TASKS_DIR.glob("*.yaml"))


def task_configs(tasks: Sequence[str], data_dir: str | None) -> list[str | dict[str, Any]]:
    """What `simple_evaluate` gets for each task: a shipped task's config with its data files
    under `data_dir`, or the name of any other task."""
    configs: list[str | dict[str, Any]] = []
    for task in tasks:
        if task not in shipped_tasks():
            configs.append(task)
            continue
        config = yaml.safe_load((TASKS_DIR / f"{task}.yaml").read_text())
        files = config["dataset_kwargs"]["data_files"]
        root = Path(data_dir or ".").resolve()
        resolved = {split: str(root / pattern) for split, pattern in files.items()}
        absent = [pattern for pattern in resolved.values() if not glob.glob(pattern)]
        if absent:
            raise DatasetError(
                f"lm-eval task {task!r}: no file matches {absent}. Fix: set lm_eval.data_dir "
                f"to the folder holding {sorted(files.values())} (e.g. ../shared/data)."
            )
        configs.append(
            {**config, "dataset_kwargs": {**config["dataset_kwargs"], "data_files": resolved}}
        )
    return configs


def run_harness(model, tokenizer, settings: Mapping[str, Any], seed: int = 0) -> dict[str, Any]:
    """lm-eval's `simple_evaluate` on a loaded model: its results, per task, as a dict.

    `settings` holds tasks, data_dir, include_path, limit, num_fewshot, gen_kwargs (e.g. a
    smaller max_gen_toks for models with a short window) and batch_size.
    """
    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    lm = HFLM(
        pretrained=model,
        tokenizer=tokenizer,
        batch_size=settings["batch_size"],
        device=str(next(model.parameters()).device),
    )
    manager = TaskManager(include_path=settings.get("include_path"))
    results = simple_evaluate(
        model=lm,
        tasks=task_configs(settings["tasks"], settings.get("data_dir")),
        num_fewshot=settings.get("num_fewshot"),
        limit=settings.get("limit"),
        gen_kwargs=settings.get("gen_kwargs"),
        task_manager=manager,
        log_samples=False,
        random_seed=seed,
        numpy_random_seed=seed,
        torch_random_seed=seed,
        fewshot_random_seed=seed,
    )
    return {
        "results": results["results"],
        "higher_is_better": results["higher_is_better"],
        "n_samples": results.get("n-samples", {}),
    }


def harness_scores(
    results: Mapping[str, Any],
    model: str,
    metrics: Mapping[str, str] | None = None,
    tasks: Sequence[str] = (),
) -> pd.DataFrame:
    """One row per task: model, benchmark, kind (metric,filter), value and oriented score.

    A task's score is the metric `metrics` names for it, else the first lm-eval reports. With
    `tasks` (the configured names), only those rows: a group such as `mmlu` is one benchmark
    (lm-eval's aggregate), not one per subject.
    """
    rows = []
    named = [task for task in tasks if task in results["results"]]
    for task, values in results["results"].items():
        if named and task not in named:
            continue
        reported = [k for k in values if "," in k and "_stderr," not in k]
        key = (metrics or {}).get(task, reported[0] if reported else None)
        if key not in values:
            raise DatasetError(
                f"lm-eval task {task!r} reports no {key!r}; it reports {reported}. Fix: name one "
                "of them under lm_eval.metrics."
            )
        higher = results["higher_is_better"].get(task, {}).get(key.split(",")[0], True)
        value = float(values[key])
        rows.append(
            {
                "model": model,
                "benchmark": task,
                "kind": key,
                "value": value,
                "score": value if higher else -value,
            }
        )
    return pd.DataFrame(rows)
