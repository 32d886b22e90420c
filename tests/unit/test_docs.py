"""The documentation holds together: every relative link and anchor resolves (GitHub's heading
slugs), no section of the old long README was lost when it moved into docs/, and README stays
a five-minute read."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", ROOT / "CHANGELOG.md", ROOT / "config" / "README.md"]
PAGES += sorted((ROOT / "docs").glob("*.md"))
README_LINES = 250

# Every `##`/`###` heading of README.md before it became a front door (issue 41), and the
# heading it is now (the same text unless mapped): each must exist in README.md or docs/.
MOVED = {
    "Set up and run": "The offline demo",
    "Set up and test": "Set up and test",
    "Run on a Slurm cluster": "Run on a Slurm cluster",
    "Rerun one target": "Rerun one target",
    "Offline use": "Offline use",
    "When the config or the data is wrong": "When the config or the data is wrong",
    "Security: what runs code, and what is written where": (
        "Security: what runs code, and what is written where"
    ),
    "Configuration": "Configuration",
    "Layout": "Layout",
    "Scale and precision": "Scale and precision",
    "Perplexity on lm-evaluation-harness's convention": (
        "Perplexity on lm-evaluation-harness's convention"
    ),
    "Alignment coefficients": "Alignment coefficients",
    "Does alignment predict performance?": "Does alignment predict performance?",
    "Validating a candidate dataset with a model panel": (
        "Validating a candidate dataset with a model panel"
    ),
    "Choosing data: selection experiments": "Choosing data: selection experiments",
    "Benchmarks": "Benchmarks",
    "Scale: memory bounded by the batch": "Scale: memory bounded by the batch",
    "On a GPU: `benchmarks/gpu_check.py`": "On a GPU: `benchmarks/gpu_check.py`",
    "Selection at scale: a million-example pool, side by side with DSIR": (
        "Selection at scale: a million-example pool, side by side with DSIR"
    ),
    "Results": "Results",
    "Does alignment pick the better natural train set? (`natural_local`)": (
        "Does alignment pick the better natural train set? (`natural_local`)"
    ),
    "The proof setting end to end (SmolLM2-135M, ProofNet test)": (
        "The proof setting end to end (SmolLM2-135M, ProofNet test)"
    ),
    "Choosing data for three targets (`three_targets`, `proofnet_budgets`)": (
        "Choosing data for three targets (`three_targets`, `proofnet_budgets`)"
    ),
    "Choosing data for ProofNet (`proof_select`)": "Choosing data for ProofNet (`proof_select`)",
    "The model panels on GSM8K (`gsm8k_panel`, `skill_panel`)": (
        "The model panels on GSM8K (`gsm8k_panel`, `skill_panel`)"
    ),
}

FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)|!\[[^\]]*\]\(([^)\s]+)\)")
CODE_SPAN = re.compile(r"`[^`\n]*`")


def prose(text: str) -> str:
    """The text outside fenced code blocks, where `#` starts a comment, not a heading."""
    return FENCE.sub("", text)


def headings(text: str) -> list[str]:
    return HEADING.findall(prose(text))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower-case, markup and punctuation dropped except `-` and
    `_`, spaces to `-`."""
    text = re.sub(r"[`*]|\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(text: str) -> set[str]:
    """Every anchor a page's headings give, a repeated heading's `-1`, `-2` … included."""
    seen: dict[str, int] = {}
    found = set()
    for heading in headings(text):
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def broken_links(page: Path, root: Path = ROOT) -> list[str]:
    """Each relative link of a page whose file or `#anchor` does not exist (named from root)."""
    problems = []
    for match in LINK.finditer(CODE_SPAN.sub("", prose(page.read_text()))):
        target = match.group(1) or match.group(2)
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            problems.append(f"{page.relative_to(root)}: {target} (no file {path})")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file.read_text()):
            problems.append(f"{page.relative_to(root)}: {target} (no heading #{anchor})")
    return problems


def test_slugs_follow_github():
    assert slug("Security: what runs code, and what is written where") == (
        "security-what-runs-code-and-what-is-written-where"
    )
    assert slug("On a GPU: `benchmarks/gpu_check.py`") == "on-a-gpu-benchmarksgpu_checkpy"
    assert slug("The paper's experiments and the offline studies") == (
        "the-papers-experiments-and-the-offline-studies"
    )
    assert anchors("# A\n\n## A\n\n```\n# A\n```\n## A\n") == {"a", "a-1", "a-2"}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_and_anchor_resolves(page):
    assert broken_links(page) == []


def test_a_broken_link_or_anchor_is_caught(tmp_path):
    (tmp_path / "other.md").write_text("# Other\n\n## Time left\n")
    page = tmp_path / "page.md"
    page.write_text(
        "[ok](other.md#time-left) [file](missing.md) [anchor](other.md#time-right) "
        "[self](#nowhere) `[code](missing.md)`\n"
    )
    assert broken_links(page, tmp_path) == [
        "page.md: missing.md (no file missing.md)",
        "page.md: other.md#time-right (no heading #time-right)",
        "page.md: #nowhere (no heading #nowhere)",
    ]


def test_no_section_of_the_old_readme_was_lost():
    present = {heading for page in PAGES for heading in headings(page.read_text())}
    assert [new for new in MOVED.values() if new not in present] == []


def test_the_extending_page_shows_the_plug_in_tests_toys_as_they_are():
    """The worked example is the code the plug-in test runs, so it cannot drift from it."""
    plugins = (ROOT / "tests" / "workflow" / "test_plugins.py").read_text()
    toys = re.findall(r'^TOY_\w+ = """\n(.*?)"""', plugins, re.MULTILINE | re.DOTALL)
    page = (ROOT / "docs" / "extending.md").read_text()
    assert len(toys) == 2 and all(f"```python\n{toy.rstrip()}\n```" in page for toy in toys)


def test_readme_is_a_five_minute_read():
    assert len((ROOT / "README.md").read_text().splitlines()) <= README_LINES


@pytest.mark.parametrize(
    ("kind", "module"),
    [("metric", "dataalign.align.metrics"), ("strategy", "dataalign.select.strategies")],
)
def test_the_architecture_page_lists_every_registered_plugin(kind, module):
    """The plug-in lists a reader sees are the registries', not a copy that drifts from them."""
    import importlib

    page = " ".join((ROOT / "docs/architecture.md").read_text().split())
    listed = re.search(rf"one plug-in per {kind}: ([^)]*)\)", page)
    assert listed, f"docs/architecture.md lists no {kind} plug-ins"
    names = {name.strip() for name in listed[1].split(",")}
    assert names == set(importlib.import_module(module).registry())
