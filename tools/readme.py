"""Write the offline demo's results into README.md and the plug-ins' options and the schema's
defaults into config/README.md, or check that they still say them.

README.md holds the demo's tables between `<!-- demo:begin -->` and `<!-- demo:end -->`,
rendered from the run's own tables (the demo experiment's points_*.csv and correlations.csv), so
no number there is typed by hand. config/README.md holds the alignment metrics' and selection
strategies' options between `<!-- options:metrics:begin -->` … and `<!-- options:strategies:…`
markers, rendered from the registries (each plug-in's `options`, and the schema's common keys),
and every other key table's default cells as the composed schema
(`dataalign.plan.schema.config_schema`) gives them, so no default is typed in two places.
CI runs the demo from a clean clone, then `check`: it fails when any number in the demo block
differs from the fresh run by more than the tolerance, an options table from the registries, or
a default cell from the schema.

    python tools/readme.py write    # after `make demo`: put this run's numbers in README.md
    python tools/readme.py options  # the registries' options, the schema's defaults: config/
    python tools/readme.py check    # exit 1, naming each number, table and default that differs
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable, Mapping
from itertools import zip_longest
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from dataalign.plan import paths

BEGIN, END = "<!-- demo:begin -->", "<!-- demo:end -->"
CONFIG_README = Path(__file__).resolve().parents[1] / "config" / "README.md"
METRICS = {"task2vec": "Task2Vec", "gzip": "GZIP", "sbert": "SBERT"}  # the demo's metrics
ABSOLUTE, RELATIVE = 0.01, 0.02  # a number may differ by 0.01 + 2% of its size
MINUS, DASH = "\u2212", "\u2013"  # the README's typographic minus sign and range dash
NUMBER = re.compile(rf"[{MINUS}-]?\d+(?:\.\d+)?(?:e[{MINUS}-]?\d+)?")


def demo_tables(workdir: Path, experiment: str = "demo") -> str:
    """The demo's two tables: per train set, CE and alignments (means of draws); per metric,
    the fit of CE on alignment with its calibrated train-set tests and Holm-corrected p."""

    def table(stem: str) -> pd.DataFrame:
        return pd.read_csv(workdir / paths.fill(paths.table(stem), exp=experiment))

    points = {m: table(f"points_{m}") for m in METRICS}
    first = next(iter(points.values()))
    draws = first.groupby("train")["seed"].nunique().max()
    means = first.groupby("train")["ce"].mean().sort_values()
    lines = [
        f"| train set (mean of {draws} draws) | HumanEval CE (nats) | "
        + " | ".join(METRICS.values())
        + " |",
        "|---|---:|" + "---:|" * len(METRICS),
    ]
    for train, ce in means.items():
        alignment = [p.loc[p["train"] == train, "alignment"].mean() for p in points.values()]
        lines.append(f"| {train} | {ce:.2f} | " + " | ".join(f"{a:.4f}" for a in alignment) + " |")
    lines += [
        "",
        "| metric | points / train sets | r² (descriptive 95% CI) | slope of CE on alignment "
        "(95% CI) | p, wild cluster bootstrap (Holm) | p, permutation (Holm) | "
        "decision accuracy (95% CI), pairs; p | leave-one-train-set-out MAE |",
        "|---|---:|---|---|---|---|---|---|",
    ]
    fits = table("correlations").groupby("metric").last()
    for metric, label in METRICS.items():
        row = fits.loc[metric]
        slope = [signed(row[k]) for k in ("slope", "slope_ci_low", "slope_ci_high")]
        lines.append(
            f"| {label} | {int(row['n_points'])} / {int(row['n_train_sets'])} | {row['r2']:.2f} "
            f"({row['r2_ci_low']:.2f}{DASH}{row['r2_ci_high']:.2f}) | {slope[0]} ({slope[1]} to "
            f"{slope[2]}) | {row['p_value']:.2g} ({row['p_value_holm']:.2g}) | "
            f"{row['p_permutation']:.2g} ({row['p_permutation_holm']:.2g}) | "
            f"{row['decision_accuracy']:.2f} ({row['decision_ci_low']:.2f}{DASH}"
            f"{row['decision_ci_high']:.2f}), {int(row['decision_pairs'])}; "
            f"{row['p_decision']:.2g} | {row['loo_mae']:.2f} nats |"
        )
    return "\n".join(lines)


def signed(value: float) -> str:
    """One decimal with a typographic minus, as the README's prose writes slopes."""
    return f"{value:.1f}".replace("-", MINUS)


def block_of(readme: str) -> str:
    """The text between the demo markers of README.md."""
    if BEGIN not in readme or END not in readme:
        raise SystemExit(f"README.md has no {BEGIN} … {END} block for the demo's tables.")
    return readme.split(BEGIN, 1)[1].split(END, 1)[0].strip("\n")


def replace_block(readme: str, block: str) -> str:
    """README.md with the demo block replaced by `block`."""
    head, rest = readme.split(BEGIN, 1)
    return f"{head}{BEGIN}\n{block}\n{END}{rest.split(END, 1)[1]}"


def numbers(text: str) -> list[float]:
    """Every number in a block, in order (a typographic minus read as a minus sign)."""
    return [float(n.replace(MINUS, "-")) for n in NUMBER.findall(text)]


def differences(claimed: str, fresh: str) -> list[str]:
    """Where the README's block and a fresh rendering disagree beyond the tolerance."""
    old, new = numbers(claimed), numbers(fresh)
    if len(old) != len(new):
        return [f"README.md has {len(old)} numbers in the demo block, the run gives {len(new)}"]
    return [
        f"README.md says {a:g}, the run gives {b:g}"
        for a, b in zip(old, new, strict=True)
        if abs(a - b) > ABSOLUTE + RELATIVE * abs(b)
    ]


def option_table(header: tuple[str, ...], rows: Iterable[tuple[str, ...]]) -> str:
    """A Markdown table (a `|` inside a cell escaped)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def shown(spec: Mapping[str, Any]) -> str:
    """An option's default as YAML writes it in a config (`null`, `true`, `[]`, a string quoted
    where its spaces or escapes need it); — without one."""
    if "default" not in spec:
        return "—"
    value = spec["default"]
    plain = isinstance(value, str) and value.strip() == value and value.isprintable() and value
    return f"`{value}`" if plain else f"`{json.dumps(value)}`"


def grouped(
    plugins: Mapping[str, Mapping[str, Mapping[str, Any]]],
) -> list[tuple[str, Mapping[str, Any], list[str]]]:
    """(option, spec, the plug-ins that take it alike) over every plug-in's options, in
    registry order: an option two plug-ins share is one row."""
    groups: dict[tuple[str, str], tuple[str, Mapping[str, Any], list[str]]] = {}
    for plugin, options in plugins.items():
        for key, spec in options.items():
            signature = (key, json.dumps(spec, sort_keys=True))
            groups.setdefault(signature, (key, spec, []))[2].append(plugin)
    return list(groups.values())


def metric_options() -> str:
    """`alignment:`'s table: every metric's options (`<metric>.<option>`), then its own keys."""
    from dataalign.align.metrics import registry
    from dataalign.schemas import schema_file

    options = {name: metric.options for name, metric in registry().items()}
    rows = [
        (", ".join(f"`{m}.{key}`" for m in metrics), shown(spec), spec.get("description", ""))
        for key, spec, metrics in grouped(options)
    ]
    own = schema_file()["properties"]["alignment"]["properties"]
    rows += [(f"`{key}`", shown(spec), spec.get("description", "")) for key, spec in own.items()]
    return option_table(("key", "default", "meaning"), rows)


def strategy_options() -> str:
    """A strategy entry's table: the keys every method takes, then each method's own."""
    from dataalign.schemas import schema_file
    from dataalign.select.strategies import registry

    common = schema_file()["$defs"]["strategy"]["properties"]
    methods = ", ".join(f"`{name}`" for name in registry())
    ranking = ", ".join(name for name, strategy in registry().items() if strategy.ranks)
    method, temperature = common["method"], common["temperature"]
    rows = [
        ("`method`", "the name", "all", f"{method['description']}: {methods}"),
        ("`temperature`", shown(temperature), ranking, temperature["description"]),
    ]
    options = {name: strategy.options for name, strategy in registry().items()}
    rows += [
        (f"`{key}`", shown(spec), ", ".join(names), spec.get("description", ""))
        for key, spec, names in grouped(options)
    ]
    return option_table(("key", "default", "method", "meaning"), rows)


OPTION_TABLES = {"metrics": metric_options, "strategies": strategy_options}


def markers(name: str) -> tuple[str, str]:
    return f"<!-- options:{name}:begin -->", f"<!-- options:{name}:end -->"


def with_option_tables(text: str) -> str:
    """config/README.md with each options block rendered afresh from the registries."""
    for name, render in OPTION_TABLES.items():
        begin, end = markers(name)
        head, rest = text.split(begin, 1)
        text = f"{head}{begin}\n{render()}\n{end}{rest.split(end, 1)[1]}"
    return text


def stale_option_tables(text: str) -> list[str]:
    """Each line of config/README.md's options blocks that the registries no longer give."""
    problems = []
    for name, render in OPTION_TABLES.items():
        begin, end = markers(name)
        if begin not in text or end not in text:
            problems.append(f"config/README.md has no {begin} … {end} block")
            continue
        claimed = text.split(begin, 1)[1].split(end, 1)[0].strip("\n").splitlines()
        problems += [
            f"{name} options: config/README.md says\n  {old}\nthe registry gives\n  {new}"
            for old, new in zip_longest(claimed, render().splitlines(), fillvalue="")
            if old != new
        ]
    return problems


# A config/README.md section (its heading's start) → the schema object its key table documents.
KEY_TABLES = {
    "`models:`": "#/$defs/model",
    "`datasets:`": "#/$defs/dataset",
    "`experiments:`": "#/$defs/training_experiment",
    "`experiments.*.training`": "#/$defs/training",
    "`experiments.*.evaluation`": "#/$defs/evaluation",
    "`experiments.*.proxies`": "#/$defs/proxy",
    "Align experiments": "#/$defs/align_experiment",
    "Panel experiments": "#/$defs/panel_experiment",
    "Selection experiments": "#/$defs/select_experiment",
}
HEADING = re.compile(r"^#+ (.*)$")
CELLS = re.compile(r"(?<!\\)\|")
TOP_LEVEL_DEFAULT = re.compile(r"`([^`]+)` \(default\)")
OPTIONS_BEGIN = re.compile(r"<!-- options:\w+:begin -->")


def node(schema: Mapping[str, Any], spec: Mapping[str, Any], dotted: str) -> Mapping[str, Any]:
    """The schema of a dotted key (`hub.split`, `benchmark_scores.lm_eval.tasks`) under `spec`,
    following `$ref`s and `oneOf` branches; {} where the schema has no such key."""
    for key in dotted.split("."):
        while "$ref" in spec:
            spec = schema["$defs"][spec["$ref"].rsplit("/", 1)[1]]
        branches = [spec, *spec.get("oneOf", []), *spec.get("anyOf", [])]
        spec = next((b["properties"][key] for b in branches if key in b.get("properties", {})), {})
    return spec


def claimed(cell: str) -> tuple[bool, Any]:
    """(whether the cell shows one value, that value) for a default cell such as `5e-5`."""
    match = re.fullmatch(r"`([^`]*)`", cell.strip().replace("\\|", "|"))
    if not match:
        return False, None
    try:
        return True, json.loads(match.group(1))
    except ValueError:
        return True, yaml.safe_load(match.group(1))


def default_cells(text: str) -> list[tuple[int, str, str, Mapping[str, Any]]]:
    """(line, key, default cell, the key's schema) for every row of config/README.md's key
    tables and every top-level section's `value` (default), outside the options blocks."""
    from dataalign.plan.schema import config_schema

    schema, rows, table, top, keys, in_options = config_schema(), [], None, None, False, False
    for number, line in enumerate(text.splitlines()):
        in_options = (in_options or OPTIONS_BEGIN.search(line) is not None) and ":end" not in line
        keys = line.startswith("| key | default |") or (keys and line.startswith("|"))
        if heading := HEADING.match(line):
            title = heading.group(1)
            table = next(
                (ref for start, ref in KEY_TABLES.items() if title.startswith(start)), None
            )
            key = re.match(r"`(\w+):`", title)
            top = key and schema["properties"].get(key.group(1))
        elif table and keys and not in_options and line.startswith("| `"):
            key_cell, cell = CELLS.split(line)[1:3]
            key = key_cell.strip().strip("`")
            rows.append((number, key, cell, node(schema, {"$ref": table}, key)))
        elif top and (value := TOP_LEVEL_DEFAULT.search(line)):
            rows.append((number, "", f"`{value.group(1)}`", top))
    return rows


def stale_defaults(text: str) -> list[str]:
    """Each default config/README.md states that is not the schema's: another value, one the
    schema does not have, or — where the schema has one."""
    problems = []
    for number, key, cell, spec in default_cells(text):
        if not agrees(cell, spec):
            problems.append(
                f"default: config/README.md line {number + 1} ({key or 'top level'}) says "
                f"{cell.strip()}, the schema gives {shown(spec) if spec else 'no such key'}"
            )
    return problems


def agrees(cell: str, spec: Mapping[str, Any]) -> bool:
    """Whether a default cell says what the schema does (a cell such as `see below` says
    nothing and agrees); a key the schema does not have never does."""
    shows, value = claimed(cell)
    if not spec:
        return False
    if shows:
        return "default" in spec and spec["default"] == value
    return not (cell.strip().startswith("—") and "default" in spec)


def with_defaults(text: str) -> str:
    """config/README.md with every stale default cell rewritten from the schema."""
    lines = text.splitlines(keepends=True)
    for number, _, cell, spec in default_cells(text):
        if not agrees(cell, spec):
            fresh = shown(spec).replace("|", "\\|")
            lines[number] = lines[number].replace(cell, cell.replace(cell.strip(), fresh), 1)
    return "".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="The demo's numbers in README.md, the plug-ins' options in config/README.md."
    )
    parser.add_argument("action", choices=["write", "options", "check"])
    parser.add_argument("--readme", type=Path, default=Path("README.md"))
    parser.add_argument("--config-readme", type=Path, default=CONFIG_README)
    parser.add_argument("--workdir", type=Path, default=Path("."), help="where the demo ran")
    args = parser.parse_args(argv)
    if args.action == "options":
        fresh = with_defaults(with_option_tables(args.config_readme.read_text()))
        args.config_readme.write_text(fresh)
        print(f"wrote the plug-ins' options and the schema's defaults into {args.config_readme}")
        return 0
    readme, fresh = args.readme.read_text(), demo_tables(args.workdir)
    if args.action == "write":
        args.readme.write_text(replace_block(readme, fresh))
        print(f"wrote the demo's tables into {args.readme}")
        return 0
    config_readme = args.config_readme.read_text()
    stale = stale_option_tables(config_readme) + stale_defaults(config_readme)
    problems = differences(block_of(readme), fresh)
    for problem in [*stale, *problems]:
        print(problem, file=sys.stderr)
    if stale:
        message = f"{args.config_readme} does not say what the registries and the schema give"
        print(f"{message}. Fix: python tools/readme.py options", file=sys.stderr)
    if problems:
        message = f"{args.readme} no longer says what the demo gives ({ABSOLUTE} + {RELATIVE:.0%})"
        print(f"{message}. Fix: python tools/readme.py write", file=sys.stderr)
    if stale or problems:
        return 1
    print(f"{args.readme}: every demo number within {ABSOLUTE} + {RELATIVE:.0%} of this run")
    print(f"{args.config_readme}: the options tables and defaults are the registries' and schema's")
    return 0


if __name__ == "__main__":
    sys.exit(main())
