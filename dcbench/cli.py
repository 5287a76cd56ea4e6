"""The `dcbench` command line.

Each stage package contributes its subcommands through `add_commands`;
this module only wires them together, maps errors to exit codes and keeps
`--help` useful.

Exit codes: 0 success, 1 unexpected error, 2 bad recipe/option/config,
3 unusable input data, 4 work failed part way, 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys

from dcbench import __version__
from dcbench.errors import DcbenchError

DESCRIPTION = """\
dcbench: a data-curation benchmark harness in the style of DCLM.

The only thing a submission changes is the data. A typical session:

  dcbench pool toy --out pool/                 # a small pool with planted defects
  dcbench process baselines/recipes/dclm_baseline.yaml --pool pool/ --out runs/dclm
  dcbench tokenize runs/dclm --tier toy-250k-1x -o runs/tokens
  dcbench train --tier toy-250k-1x --data runs/tokens --out runs/model
  dcbench eval toy-suite --out toy_eval && dcbench eval runs/model --suite toy --tasks-dir toy_eval
  dcbench mix --help                           # data mixing laws: propose, run, fit, optimize
  dcbench steps                                # what a recipe can use
  dcbench scales                               # the scale tiers

Exit codes: 0 ok, 2 bad recipe or option, 3 unusable data, 4 failed work.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dcbench", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"dcbench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    from dcbench.pools.cli import add_commands as add_pool_commands
    from dcbench.baselines.cli import add_commands as add_baseline_commands
    from dcbench.training.cli import add_commands as add_training_commands
    from dcbench.eval.cli import add_commands as add_eval_commands
    from dcbench.leaderboard.cli import add_commands as add_leaderboard_commands
    from dcbench.baselines.mixing.cli import add_commands as add_mix_commands

    add_pool_commands(sub)
    add_baseline_commands(sub)
    add_training_commands(sub)
    add_eval_commands(sub)
    add_leaderboard_commands(sub)
    add_mix_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except DcbenchError as e:
        print(f"dcbench: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("dcbench: interrupted; re-run the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
