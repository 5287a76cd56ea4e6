"""The `dcbench` command line.

Each stage package contributes its own subcommands through `add_commands`, and
`dcbench.flows.cli` the ones that cross stages (`pool toy`, `eval toy-suite`,
`mix run`, `reproduce`) into the same groups; this module only wires them
together, maps errors to exit codes and keeps `--help` useful. With
`dcbench.flows`, it is the only code that may import every stage.

Exit codes: 0 success, 1 unexpected error, 2 bad recipe/option/config,
3 unusable input data, 4 work failed part way, 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys

from dcbench import __version__
from dcbench.baselines.cli import add_commands as add_baseline_commands
from dcbench.baselines.mixing.cli import add_commands as add_mix_commands
from dcbench.errors import DcbenchError
from dcbench.eval.cli import add_commands as add_eval_commands
from dcbench.flows.cli import add_commands as add_flow_commands
from dcbench.leaderboard.cli import add_commands as add_leaderboard_commands
from dcbench.pools.cli import add_commands as add_pool_commands
from dcbench.pools.toy_labels import PlantedLabels
from dcbench.training.cli import add_commands as add_training_commands

DESCRIPTION = """\
dcbench: a data-curation benchmark harness in the style of DCLM.

The only thing a submission changes is the data. A typical session:

  dcbench pool toy --out pool/                 # a small pool with planted defects
  dcbench process baselines/recipes/dclm_baseline.yaml --pool pool/ --out runs/dclm
  dcbench tokenize runs/dclm --tier toy-250k-1x -o runs/tokens
  dcbench train --tier toy-250k-1x --data runs/tokens --out runs/model
  dcbench eval toy-suite --out toy_eval && dcbench eval runs/model --suite toy --tasks-dir toy_eval
  dcbench mix --help                           # data mixing laws: propose, run, fit, optimize
  dcbench submit runs/model                    # check the tier's rules, then `dcbench leaderboard`
  dcbench plan RECIPE --pool pool/             # what a run will cost, before it runs
  dcbench diff runs/a runs/b                   # pages one recipe kept and the other removed, and why
  dcbench compare runs/a runs/b                # is A's data better than B's? (paired bootstrap)
  dcbench steps                                # what a recipe can use
  dcbench scales                               # the scale tiers

Exit codes: 0 ok, 2 bad recipe or option, 3 unusable data, 4 failed work.
"""


# A group whose first argument is none of its subcommands runs this one: `dcbench eval MODEL ...`
# is `dcbench eval run MODEL ...`, the command line people type most.
IMPLIED_SUBCOMMAND = {"eval": "run"}


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, argparse._SubParsersAction]]:
    """The parser, and the subcommand groups that `IMPLIED_SUBCOMMAND` looks into."""
    parser = argparse.ArgumentParser(
        prog="dcbench", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"dcbench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    pool = add_pool_commands(sub)
    add_baseline_commands(sub, labels=PlantedLabels())  # the toy pool's ground truth, where documents carry it
    add_training_commands(sub)
    evaluate = add_eval_commands(sub)
    add_leaderboard_commands(sub)
    mix = add_mix_commands(sub)
    add_flow_commands(sub, pool=pool, evaluate=evaluate, mix=mix)
    return parser, {"eval": evaluate}


def expand_implied(argv: list[str], groups: dict[str, argparse._SubParsersAction]) -> list[str]:
    """`eval MODEL ...` -> `eval run MODEL ...`; anything else (a subcommand, -h) stays as it is."""
    if len(argv) >= 2 and argv[0] in IMPLIED_SUBCOMMAND:
        first = argv[1]
        if first not in groups[argv[0]].choices and first not in ("-h", "--help"):
            return [argv[0], IMPLIED_SUBCOMMAND[argv[0]], *argv[1:]]
    return argv


def main(argv: list[str] | None = None) -> int:
    parser, groups = build_parser()
    args = parser.parse_args(expand_implied(sys.argv[1:] if argv is None else list(argv), groups))
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
