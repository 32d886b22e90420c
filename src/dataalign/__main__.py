"""`python -m dataalign check FILE...`: check config files without Snakemake.

Snakemake reads `--configfile` before the workflow's own checks run, and reports a YAML syntax
error without its place ("Config file is not valid JSON or YAML"). This reads the files as
Snakemake merges them (each later file's keys over the earlier's), gives a syntax error its line
and column, and then runs every check `snakemake -n` runs at parse time.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dataalign.errors import ConfigError


def check(configfiles: list[Path]) -> str:
    """Merge and check the files; a summary line, or ConfigError naming the fault."""
    from snakemake.utils import update_config

    from dataalign.plan.checks import validate_config
    from dataalign.plan.checks.files import read_config_file

    config: dict = {}
    for path in configfiles:
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist.")
        update_config(config, read_config_file(path))
    validate_config(config)
    names = ", ".join(config["experiments"]) or "none"
    return f"{' + '.join(map(str, configfiles))}: valid; experiments: {names}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dataalign", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    checking = commands.add_parser(
        "check",
        help="check config files as `snakemake -n` would, with a YAML error's line and column",
        description="List the files as Snakemake merges them: config/config.yaml first, then "
        "each --configfile (or only those, for --replace-workflow-config). Paths in the config "
        "are read relative to the current folder, as the workflow reads them.",
    )
    checking.add_argument("configfiles", nargs="+", type=Path, metavar="FILE")
    arguments = parser.parse_args(argv)
    try:
        print(check(arguments.configfiles))
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
