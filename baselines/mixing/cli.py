"""`dcbench mix propose | fit | optimize`: data mixing laws on the curation side.

`dcbench mix run` trains models, so it crosses into training: `dcbench.flows.cli`
adds it to the group `add_commands` returns.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from dcbench.baselines.mixing.grid import caps_from_tokens, sample_dirichlet, sample_grid
from dcbench.cliargs import parse_pairs
from dcbench.errors import ConfigError
from dcbench.mixture import Mixture, save_mixture
from dcbench.table import format_table

EPILOG = """\
a mixing experiment on the toy sources (no download):
  dcbench pool toy-sources --out src/
  dcbench mix propose --source web=src/web --source reference=src/reference --source foreign=src/foreign \\
      -n 10 -o mixes/
  dcbench mix run mixes/ --valid web=src/valid/web --valid reference=src/valid/reference \\
      --valid foreign=src/valid/foreign --tier toy-250k-1x --set multiplier=0.25 -o exp/
  dcbench mix fit exp/runs.jsonl --valid-weight web=1 --valid-weight reference=1 --valid-weight foreign=1 \\
      -o exp/law.json
  dcbench mix optimize exp/law.json -o best.yaml
  dcbench tokenize --mix best.yaml --tier toy-250k-1x -o tokens/
"""


def add_commands(sub: argparse._SubParsersAction) -> argparse._SubParsersAction:
    """Add `mix` and its curation-side subcommands; return the group, for the flows' `mix run`."""
    mix = sub.add_parser("mix", help="data mixing laws: propose mixtures, run them, fit the law, optimize",
                         description=("Data mixing laws (Ye et al. 2024): the validation loss of each domain "
                                      "is c + k exp(t . r) in the mixture proportions r (M4). Fit it on small "
                                      "runs, then pick the mixture with the lowest predicted loss."),
                         epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    msub = mix.add_subparsers(dest="mix_command", metavar="MIX_COMMAND")
    msub.required = True

    p = msub.add_parser("propose", help="write N mixture files to try (double-diminishing grid or Dirichlet)",
                        description=("Draw N distinct mixtures of the sources: from the paper's double-"
                                     "diminishing grid (shares cap, cap/2, cap/4, ... in steps of 1/16) or "
                                     "from a Dirichlet. Caps keep each source within the tokens it has."))
    _sources_args(p)
    p.add_argument("-n", type=int, default=12, help="how many mixtures (default 12)")
    p.add_argument("--method", choices=("grid", "dirichlet"), default="grid")
    p.add_argument("--alpha", type=float, default=1.0, help="Dirichlet concentration (default 1)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-o", "--out", required=True, help="folder for mix-NNN.yaml files")
    p.set_defaults(func=_propose)

    f = msub.add_parser("fit", help="fit the M4 law per validation domain (and the aggregate) on runs.jsonl",
                        description=("Fit L_i(r) = exp(log_c) + exp(log_k + t.r) per validation domain with the "
                                     "paper's multi-start L-BFGS on a Huber loss; aggregate with known "
                                     "validation weights (explicit) or an implicit model of K latent domains. "
                                     "With --target-step/--target-size, runs are first extrapolated with the "
                                     "step law and size law (nested prediction)."))
    f.add_argument("runs", help="runs.jsonl (from `mix run`, or written by hand)")
    f.add_argument("--valid-weight", action="append", default=[], metavar="DOMAIN=W",
                   help="share of a domain in the target validation set (explicit aggregation)")
    f.add_argument("--implicit", type=int, default=None, metavar="K",
                   help="fit the implicit model with K latent domains to the total loss")
    f.add_argument("--draws", type=int, default=30, help="random t per (log_c, log_k) start (30 = the paper's 6000)")
    f.add_argument("--target-step", type=int, default=None, help="extrapolate every run to this step first")
    f.add_argument("--target-size", type=float, default=None, help="then to this non-embedding size")
    f.add_argument("--tokens-per-step", type=float, default=1.0, help="for the step law's x axis")
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("-o", "--out", required=True, help="law.json to write")
    f.set_defaults(func=_fit)

    o = msub.add_parser("optimize", help="the mixture with the lowest predicted loss, as a mixture file",
                        description=("Score the double-diminishing grid under the caps and take the argmin "
                                     "(--method grid, as the paper); --method simplex refines it on the "
                                     "continuous simplex with bounds [floor, cap]."))
    o.add_argument("law", help="law.json from `mix fit`")
    o.add_argument("--cap", action="append", default=[], metavar="SOURCE=SHARE",
                   help="largest share a source may take (default 1)")
    o.add_argument("--available", action="append", default=[], metavar="SOURCE=TOKENS",
                   help="tokens a source has; with --target-tokens gives its cap")
    o.add_argument("--target-tokens", type=float, default=None)
    o.add_argument("--floor", type=float, default=0.0, help="smallest share of every source (default 0)")
    o.add_argument("--method", choices=("grid", "simplex"), default="grid")
    o.add_argument("-o", "--out", required=True, help="mixture file to write (for `dcbench tokenize --mix`)")
    o.set_defaults(func=_optimize)
    return msub


def _sources_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--source", action="append", required=True, metavar="NAME=DATASET",
                   help="a training source and its dataset (repeat, in a fixed order)")
    p.add_argument("--cap", action="append", default=[], metavar="NAME=SHARE", help="largest share of a source")
    p.add_argument("--available", action="append", default=[], metavar="NAME=TOKENS",
                   help="tokens a source has; with --target-tokens gives its cap")
    p.add_argument("--target-tokens", type=float, default=None, help="tokens of one run (for caps)")


def _caps(names: list[str], args: argparse.Namespace) -> list[float]:
    caps = {n: 1.0 for n in names}
    caps.update(parse_pairs(args.cap, "--cap", float))
    available = parse_pairs(args.available, "--available", float)
    if available:
        if args.target_tokens is None:
            raise ConfigError("--available needs --target-tokens (the tokens of one run)")
        for n, c in caps_from_tokens(available, args.target_tokens).items():
            caps[n] = min(caps.get(n, 1.0), c)
    unknown = set(caps) - set(names)
    if unknown:
        raise ConfigError(f"caps name unknown sources {sorted(unknown)}; sources: {names}")
    return [caps[n] for n in names]


def _propose(args: argparse.Namespace) -> int:
    sources = parse_pairs(args.source, "--source")
    names = list(sources)
    caps = _caps(names, args)
    draw = (sample_grid(args.n, caps, seed=args.seed) if args.method == "grid"
            else sample_dirichlet(args.n, caps, alpha=args.alpha, seed=args.seed))
    out = Path(args.out)
    sources = {n: _relative_to(spec, out) for n, spec in sources.items()}
    rows = []
    for i, row in enumerate(draw):
        name = f"mix-{i:03d}"
        save_mixture(Mixture(sources, dict(zip(names, map(float, row))), {"id": name}), out / f"{name}.yaml")
        rows.append([name, *(f"{v:.4f}" for v in row)])
    print(format_table(["mixture", *names], rows))
    print(f"{len(draw)} mixtures -> {out}/")
    return 0


def _relative_to(spec: str, folder: Path) -> str:
    """A local source path as the mixture file in `folder` must write it (files read paths from their folder)."""
    return spec if "://" in spec else os.path.relpath(Path(spec).resolve(), folder.resolve())


def _fit(args: argparse.Namespace) -> int:
    # deferred: the law modules import scipy (~0.5 s measured); --help must not pay it
    from dcbench.baselines.mixing.fitted import fit_mixing_law
    from dcbench.baselines.mixing.runs import latest, load_runs, predict_to, table

    weights = parse_pairs(args.valid_weight, "--valid-weight", float) or None
    if weights is None and args.implicit is None:
        raise ConfigError("say how domains add up: --valid-weight DOMAIN=W for each domain, or --implicit K")
    runs = load_runs(args.runs)
    if args.target_step is None and args.target_size is None:
        runs = latest(runs)
    else:
        runs = predict_to(runs, target_step=args.target_step, target_size=args.target_size,
                          tokens_per_step=args.tokens_per_step, seed=args.seed, log=print)
    t = table(runs)
    if len(t.mixtures) < len(t.sources) + 2:
        raise ConfigError(f"{len(t.mixtures)} mixtures cannot fit M4's {len(t.sources) + 2} coefficients per "
                          f"domain; run more mixtures")
    print(f"fitting M4 on {len(t.mixtures)} mixtures of {len(t.sources)} sources, {len(t.losses)} domains")
    law = fit_mixing_law(t.r, t.losses, t.sources, valid_weights=weights, implicit_k=args.implicit,
                         draws=args.draws, seed=args.seed, log=print)
    law.source_paths = t.source_paths
    law.meta.update(target_step=args.target_step, target_size=args.target_size, mixtures=t.mixtures)
    law.save(args.out)
    _print_t(law)
    if "total" in law.meta["fit_mae"]:
        print(f"fit MAE of the total loss: {law.meta['fit_mae']['total']:.4f}")
    print(f"law -> {args.out}")
    return 0


def _print_t(law) -> None:
    rows = [[d, *(f"{row[s]:.3f}" for s in law.sources)] for d, row in law.t_matrix().items()]
    print(format_table(["domain", *law.sources], rows,
                       title="t_ij (row: validation domain; negative = the source lowers that loss; rows centred):"))


def _optimize(args: argparse.Namespace) -> int:
    # deferred: the law modules import scipy (~0.5 s measured); --help must not pay it
    from dcbench.baselines.mixing.fitted import MixingLaw
    from dcbench.baselines.mixing.optimize import optimize

    law = MixingLaw.load(args.law)
    best = optimize(law, _caps(law.sources, args), floor=args.floor, method=args.method)
    weights = dict(zip(law.sources, map(float, best.weights)))
    paths = law.source_paths
    missing = [s for s in law.sources if s not in paths]
    if missing:
        raise ConfigError(f"the law does not record where sources {missing} live; fit it from `mix run` output")
    extra = {"predicted_loss": best.predicted, "predicted_domains": best.domains, "law": str(args.law)}
    save_mixture(Mixture({s: paths[s] for s in law.sources}, weights, extra), args.out)
    _print_t(law)
    print(f"best of {best.candidates} grid mixtures" + (" refined on the simplex" if args.method == "simplex" else ""))
    print("  " + "  ".join(f"{s}={w:.4f}" for s, w in weights.items()))
    print(f"predicted loss {best.predicted:.4f} (" + ", ".join(f"{d} {v:.4f}" for d, v in best.domains.items())
          + f") -> {args.out}")
    return 0
