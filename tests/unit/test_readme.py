"""README.md's demo numbers come from the run's own tables, and an edited number is caught;
config/README.md's options tables come from the plug-ins' registries, and a changed default is
caught."""

from __future__ import annotations

import pandas as pd
import pytest
from readme import (
    BEGIN,
    CONFIG_README,
    END,
    main,
    numbers,
    stale_defaults,
    stale_option_tables,
)

TRAINS = {"functions": 6.9, "code_50": 7.2, "licenses": 9.0}


@pytest.fixture
def results(tmp_path):
    tables = tmp_path / "results" / "tables" / "demo"
    tables.mkdir(parents=True)
    for k, metric in enumerate(("task2vec", "gzip", "sbert")):
        points = pd.DataFrame(
            [
                {
                    "train": t,
                    "eval": "humaneval",
                    "seed": s,
                    "alignment": 0.5 - ce / 100 + k / 10,
                    "ce": ce + s / 10,
                    "ppl": 0.0,
                }
                for t, ce in TRAINS.items()
                for s in (0, 1)
            ]
        )
        points.to_csv(tables / f"points_{metric}.csv", index=False)
    fits = [
        {
            "metric": metric,
            "eval": "humaneval",
            "n_points": 6,
            "n_train_sets": 3,
            "r2": 0.91,
            "r2_ci_low": 0.5,
            "r2_ci_high": 0.99,
            "slope": -15.25,
            "slope_ci_low": -20.0,
            "slope_ci_high": -10.5,
            "p_value": 3.1e-5,
            "p_value_holm": 9.3e-5,
            "p_permutation": 0.0083,
            "p_permutation_holm": 0.025,
            "decision_accuracy": 1.0,
            "decision_ci_low": 0.5,
            "decision_ci_high": 1.0,
            "decision_pairs": 3,
            "p_decision": 0.17,
            "loo_mae": 0.12,
        }
        for metric in ("task2vec", "gzip", "sbert")
    ]
    pd.DataFrame(fits).to_csv(tables / "correlations.csv", index=False)
    readme = tmp_path / "README.md"
    readme.write_text(f"# demo\n\n{BEGIN}\nold\n{END}\n\nmore text 1.5\n")
    return tmp_path


def test_written_tables_pass_the_check_and_an_edited_number_fails_it(results, capsys):
    args = ["--readme", str(results / "README.md"), "--workdir", str(results)]
    assert main(["write", *args]) == 0
    text = (results / "README.md").read_text()
    assert "| functions | 6.95 |" in text and "| Task2Vec | 6 / 3 | 0.91 (0.50\u20130.99) |" in text
    assert "\u221215.2 (\u221220.0 to \u221210.5)" in text and text.endswith("more text 1.5\n")
    assert "| 1.00 (0.50\u20131.00), 3; 0.17 | 0.12 nats |" in text
    assert main(["check", *args]) == 0
    (results / "README.md").write_text(text.replace("| functions | 6.95 |", "| functions | 6.75 |"))
    assert main(["check", *args]) == 1
    assert "README.md says 6.75, the run gives 6.95" in capsys.readouterr().err


def test_numbers_read_typographic_minus_and_exponents():
    assert numbers("slope \u221215.2 (p 3.1e-05), r\u00b2 0.91") == [-15.2, 3.1e-05, 0.91]


def test_the_options_tables_are_the_registries_and_a_changed_default_fails_the_check(
    results, monkeypatch, capsys
):
    from dataalign.select.strategies.gzip import OPTIONS

    assert stale_option_tables(CONFIG_README.read_text()) == []
    config_readme = results / "config.md"
    config_readme.write_text(CONFIG_README.read_text())
    args = ["--readme", str(results / "README.md"), "--workdir", str(results)]
    args += ["--config-readme", str(config_readme)]
    assert main(["write", *args]) == 0 and main(["check", *args]) == 0
    monkeypatch.setitem(OPTIONS["level"], "default", 6)
    assert main(["check", *args]) == 1
    err = capsys.readouterr().err
    assert "strategies options: config/README.md says\n  | `level` | `9` | gzip |" in err
    assert "the registry gives\n  | `level` | `6` | gzip |" in err
    assert main(["options", *args]) == 0 and main(["check", *args]) == 0
    assert "| `level` | `6` | gzip |" in config_readme.read_text()


def test_the_default_cells_are_the_schemas_and_a_changed_default_fails_the_check(
    results, monkeypatch, capsys
):
    from dataalign.schemas import schema_file

    assert stale_defaults(CONFIG_README.read_text()) == []
    renamed = CONFIG_README.read_text().replace("| `grad_accum` |", "| `grad_accumulation` |")
    [problem] = stale_defaults(renamed)
    assert problem.endswith("(grad_accumulation) says `1`, the schema gives no such key")
    config_readme = results / "config.md"
    config_readme.write_text(CONFIG_README.read_text())
    args = ["--readme", str(results / "README.md"), "--workdir", str(results)]
    args += ["--config-readme", str(config_readme)]
    assert main(["write", *args]) == 0 and main(["check", *args]) == 0
    definitions = schema_file()["$defs"]
    monkeypatch.setitem(definitions["training"]["properties"]["lr"], "default", 1e-4)
    monkeypatch.setitem(definitions["prompt"]["properties"]["separator"], "default", "\n")
    monkeypatch.setitem(schema_file()["properties"]["precision"], "default", "bf16")
    assert main(["check", *args]) == 1
    err = capsys.readouterr().err
    assert "(lr) says `5e-5`, the schema gives `0.0001`" in err
    assert '(prompt.separator) says `"\\n\\n"`, the schema gives `"\\n"`' in err
    assert "(top level) says `auto`, the schema gives `bf16`" in err
    assert main(["options", *args]) == 0 and main(["check", *args]) == 0
    fixed = config_readme.read_text()
    assert "| `lr` | `0.0001` |" in fixed and '| `prompt.separator` | `"\\n"` |' in fixed
    assert "`bf16` (default)" in fixed
