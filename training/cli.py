"""`dcbench tokenize`, `dcbench train`, `dcbench scales`, `dcbench tokenizer download`."""

from __future__ import annotations

import argparse
import os
import sys
import textwrap

from dcbench.cliargs import non_negative_int, parse_overrides, positive_float, positive_int
from dcbench.errors import ConfigError
from dcbench.mixture import load_mixture
from dcbench.training.budget import repetition_warning
from dcbench.training.scales import format_table, get_tier
from dcbench.training.threads import THREADS_ENV
from dcbench.training.tier_tokenizer import DEFAULT_TOKENIZER, tokenizer_for
from dcbench.training.tokenize import tokenize_dataset, tokenize_mixture
from dcbench.training.tokenizer import download_tokenizer, load_tokenizer, vocab_size

TRAIN_EPILOG = """\
examples:
  dcbench train --tier toy-250k-1x --data tokens/ --out runs/model
  torchrun --nproc_per_node 8 -m dcbench.cli train --tier 400M-1x --data tokens/ --out runs/400m
  dcbench train --tier toy-1m-1x --data tokens/ --out runs/small --init-from runs/big/model/model.pt --inherit-layers 2

  dcbench train --tier toy-250k-1x --data tokens/ --out runs/model-s2 --seed 2   # another seed, same data

Official tiers keep DCLM's hyperparameters: --set is refused there unless --off-leaderboard.
--seed is allowed everywhere: it is part of the model's id, and the leaderboard shows the seeds of one
dataset as one entry (mean, standard deviation, 95% interval). Without it the tier's seed is used.
Re-running the same command resumes from the latest checkpoint (of the same seed).
"""

TOKENIZE_EPILOG = """\
examples:
  dcbench tokenize runs/dclm_baseline --tier toy-250k-1x -o runs/tokens
  dcbench pool toy-sources --out sources/
  dcbench tokenize --mix sources/uniform.yaml --tier toy-250k-1x -o runs/mix-uniform
  dcbench tokenize --mix sources/web-heavy.yaml --tier toy-250k-1x -o runs/mix-web \\
      --tokenizer runs/mix-uniform/tokenizer.json --tokens 2000000

A mixture file (kind: mixture) names its sources (dataset dirs or pool specs) and their token shares:
  sources: {web: web, reference: reference}
  weights: {web: 0.75, reference: 0.25}
Sources of weight 0 are not read. Every tier has one tokenizer (`dcbench scales`, last column), used
when --tokenizer is not given; tokens made with another are for experiments: `dcbench submit` refuses
their models. A warning says when the tier's budget would repeat the tokens (and how many times).
"""


def add_commands(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("scales", help="list the scale tiers: model shape, tokens, batch, schedule",
                       description="DCLM's official tiers (exact hyperparameters) and small CPU tiers.")
    s.set_defaults(func=_scales)

    tk = sub.add_parser("tokenizer", help="get the GPT-NeoX-20B tokenizer",
                        description="Tokenizers for `dcbench tokenize`.")
    tsub = tk.add_subparsers(dest="tokenizer_command", metavar="TOKENIZER_COMMAND")
    tsub.required = True
    dl = tsub.add_parser("download", help="fetch tokenizer.json of EleutherAI/gpt-neox-20b from the hub",
                         description="Download the GPT-NeoX-20B tokenizer.json (what DCLM's tiers use).")
    dl.add_argument("--dest", default=str(DEFAULT_TOKENIZER), help=f"where to write it (default {DEFAULT_TOKENIZER})")
    dl.add_argument("--base-url", default="https://huggingface.co", help="hub address (a file:// mirror works)")
    dl.add_argument("--repo", default="EleutherAI/gpt-neox-20b")
    dl.set_defaults(func=_download)

    t = sub.add_parser(
        "tokenize", help="tokenize and globally shuffle a curated dataset (or a mixture of sources) for a tier",
        description=textwrap.fill(
            "Encode every document, append EOT, cut contexts of seq_len + 1 tokens and shuffle them globally in two "
            "stages on Ray (like DCLM's tokshuf). The tier fixes the tokenizer: GPT-NeoX-20B for official tiers, a "
            "small BPE shipped with dcbench for the toy tiers (copied beside the tokens).", 100) + "\n\n" + textwrap.fill(
            "With --mix, tokenize a mixture file instead (Data Mixing Laws): each source's share of the tokens is "
            "its weight, to within one context. Without --tokens, as many tokens as the mixture allows without "
            "repeating any source; with --tokens, sources that have too few are repeated (with a warning).", 100),
        epilog=TOKENIZE_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    t.add_argument("dataset", nargs="?", default=None,
                   help="a `dcbench process` output directory (or any pool spec); or give --mix")
    t.add_argument("--mix", default=None, metavar="MIXTURE.yaml",
                   help="a mixture file (sources and token-share weights) instead of DATASET")
    t.add_argument("--tokens", type=positive_int, default=None,
                   help="with --mix: total tokens to produce (default: the most that repeats no source)")
    t.add_argument("--tier", required=True, help="scale tier (see `dcbench scales`)")
    t.add_argument("-o", "--output", required=True, help="token shards directory")
    t.add_argument("--tokenizer", default=None,
                   help="tokenizer.json (default: the tier's own; another makes tokens for experiments only)")
    t.add_argument("--workers", type=positive_int, default=None, help="Ray tasks at once (default: all CPUs)")
    t.add_argument("--address", default=None, help="join an existing Ray cluster")
    t.add_argument("--seed", type=non_negative_int, default=0, help="shuffle (and mixture selection) seed (default 0)")
    t.set_defaults(func=_tokenize)

    tr = sub.add_parser("train", help="train the tier's fixed model on token shards",
                        description="The fixed OpenLM-style trainer: AdamW, warmup + cosine, z-loss, bf16, FSDP2.",
                        epilog=TRAIN_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    tr.add_argument("--tier", required=True, help="scale tier (see `dcbench scales`)")
    tr.add_argument("--data", required=True, help="token shards from `dcbench tokenize`")
    tr.add_argument("--out", required=True, help="run directory (checkpoints, model, log, manifest)")
    tr.add_argument("--max-steps", type=positive_int, default=None,
                    help="stop early (a smoke run; not a full-budget model)")
    tr.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override a hyperparameter (lr, warmup, global_batch, ...); needs --off-leaderboard on "
                         "official tiers")
    tr.add_argument("--seed", type=non_negative_int, default=None,
                    help="training seed: weight initialisation and the data order after the first pass (default: "
                         "the tier's, 124); part of the model's id")
    tr.add_argument("--off-leaderboard", action="store_true", help="mark the run as not comparable")
    tr.add_argument("--init-from", default=None, help="Inheritune: a checkpoint of a larger model")
    tr.add_argument("--inherit-layers", type=positive_int, default=None, help="Inheritune: how many blocks to copy")
    tr.add_argument("--grow", action="store_true",
                    help="Inheritune grow mode: from --init-from, add 2 inherited blocks a round until validation "
                         "loss reaches the reference's (needs --val-data)")
    tr.add_argument("--val-data", default=None, help="held-out token shards for --grow")
    tr.add_argument("--max-rounds", type=positive_int, default=4, help="grow rounds at most (default 4)")
    tr.add_argument("--checkpoint-every", type=positive_int, default=500,
                    help="steps between checkpoints (default 500)")
    tr.add_argument("--no-amp", action="store_true", help="fp32 instead of bf16 autocast")
    tr.add_argument("--peak-flops", type=positive_float, default=None, help="the device's peak FLOP/s, for MFU")
    tr.add_argument("--threads", type=positive_int, default=None,
                    help="CPU threads for torch (default $DCBENCH_THREADS, else one fewer than the CPUs available, "
                         "1 to 4, shared among torchrun's local ranks); recorded in the model's manifest")
    tr.set_defaults(func=_train)


def _scales(args: argparse.Namespace) -> int:
    print(format_table())
    return 0


def _download(args: argparse.Namespace) -> int:
    path = download_tokenizer(args.dest, repo=args.repo, base_url=args.base_url)
    print(f"tokenizer -> {path}")
    return 0


def _tokenize(args: argparse.Namespace) -> int:
    if (args.dataset is None) == (args.mix is None):
        raise ConfigError("give exactly one of DATASET or --mix MIXTURE.yaml")
    if args.tokens is not None and args.mix is None:
        raise ConfigError("--tokens goes with --mix (a plain dataset is tokenized whole)")
    tier = get_tier(args.tier)
    mixture = load_mixture(args.mix) if args.mix is not None else None
    tok_path = tokenizer_for(tier, args.output, args.tokenizer)
    if vocab_size(load_tokenizer(tok_path)) > tier.model.vocab_size:
        raise ConfigError(f"tokenizer {tok_path} has more tokens than tier {tier.name}'s vocabulary "
                          f"({tier.model.vocab_size}); use the tier's tokenizer")
    common = dict(seq_len=tier.model.seq_len, workers=args.workers, seed=args.seed, address=args.address,
                  progress=True)
    if mixture is None:
        m = tokenize_dataset(args.dataset, args.output, tok_path, **common)
    else:
        m = tokenize_mixture(mixture, args.output, tok_path, tokens=args.tokens, **common)
    print(f"tokens {m.id}: {m.extra['sequences']:,} sequences of {tier.model.seq_len + 1} tokens "
          f"({m.extra['tokens']:,} tokens) -> {args.output}")
    for name, r in m.extra.get("mixture", {}).items():
        if r["contexts_available"] is None:
            print(f"  {name}: weight 0, not read")
            continue
        print(f"  {name}: weight {r['weight']:.4f}, token share {r['token_share']:.4f}, "
              f"{r['contexts_taken']:,} of {r['contexts_available']:,} contexts ({r['epochs']:.2f} epochs)")
    repeats = repetition_warning(tier, m.extra["sequences"])
    if repeats:
        print(repeats, file=sys.stderr)
    return 0


def _train(args: argparse.Namespace) -> int:
    # deferred: the trainer imports torch (~2 s measured); --help and `dcbench tokenize` must not pay it
    from dcbench.training.trainer import grow_until, train

    if args.threads is not None:  # every train() below, --grow's rounds included, reads it as its default
        os.environ[THREADS_ENV] = str(args.threads)
    overrides = _with_seed(parse_overrides(args.set), args.seed, get_tier(args.tier).seed)
    if args.grow:
        if not (args.init_from and args.val_data):
            raise ConfigError("--grow needs --init-from (the reference checkpoint) and --val-data (held-out tokens)")
        grown = grow_until(args.init_from, get_tier(args.tier), args.data, args.val_data, args.out,
                           start_layers=args.inherit_layers, max_rounds=args.max_rounds,
                           overrides=overrides or None, amp=not args.no_amp,
                           steps_per_round=args.max_steps)  # grown models are off-leaderboard by nature
        verdict = "reached" if grown.reached else "did not reach"
        print(f"grow: {len(grown.rounds)} rounds, {verdict} the reference's validation loss "
              f"{grown.reference_loss:.4f} -> {grown.final_dir}")
        return 0
    result = train(get_tier(args.tier), args.data, args.out, max_steps=args.max_steps,
                   overrides=overrides or None, off_leaderboard=args.off_leaderboard,
                   init_from=args.init_from, inherit_layers=args.inherit_layers,
                   checkpoint_every=args.checkpoint_every, amp=not args.no_amp, peak_flops=args.peak_flops,
                   threads=args.threads)
    if int(os.environ.get("RANK", "0")) != 0:
        return 0  # under torchrun, rank 0 speaks for the run
    budget = result.tier.steps
    note = "" if result.steps >= budget else f" (stopped early: the tier's budget is {budget:,} steps)"
    passes = f", {result.epochs:.1f} epochs" if result.epochs is not None else ""
    print(f"model {result.manifest_id} (seed {result.tier.seed}): {result.steps:,} steps, "
          f"{result.tokens:,} tokens{passes}, final loss "
          f"{result.final_loss:.4f}{note} -> {result.model_path}")
    return 0


def _with_seed(overrides: dict, seed: int | None, tier_seed: int) -> dict:
    """--seed as the `seed` override (none for the tier's own seed, so its model ids stay as they were)."""
    if seed is None:
        return overrides
    if "seed" in overrides and overrides["seed"] != seed:
        raise ConfigError(f"--seed {seed} and --set seed={overrides['seed']} disagree: give one")
    rest = {k: v for k, v in overrides.items() if k != "seed"}
    return rest if seed == tier_seed else {**rest, "seed": seed}
