"""Small runs for a mixing law (`dcbench mix run`): for each mixture, tokenize, train, and
measure the validation loss on every validation domain.

    out/tokenizer.json        one tokenizer for every run (losses must be comparable)
    out/valid/<domain>/       validation tokens, made once
    out/runs/<mixture>/tokens, out/runs/<mixture>/model
    out/runs.jsonl            one record per finished mixture (what `dcbench mix fit` reads)

A mixture already in runs.jsonl is skipped, so a re-run resumes. Every run
trains the same tier with the same overrides and token budget; only the
mixture differs. Mixtures and runs.jsonl are the curation side's files
(`dcbench.mixture`, `dcbench.baselines.mixing.runs`); tokenizing and training are
training's, which is why this flow lives here and not in either stage.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import ray

from dcbench.baselines.mixing.runs import Run, append_run, load_runs
from dcbench.errors import ConfigError
from dcbench.mixture import Mixture
from dcbench.progress import Progress
from dcbench.taskloop import ray_init
from dcbench.training.tier_tokenizer import tokenizer_for
from dcbench.training.tokenize import tokenize_dataset, tokenize_mixture
from dcbench.training.trainer import build_model, resolve_tier, train, validation_loss


def run_mixtures(mixtures: dict[str, Mixture], valid: dict[str, str], tier, out_dir: str | Path, *,
                 tokenizer: str | None = None, overrides: dict | None = None, workers: int | None = None,
                 seed: int = 0, val_batches: int = 64, log: Callable[[str], object] | None = None) -> list[Run]:
    """Train one small model per mixture and record its validation losses in `out_dir/runs.jsonl`.

    Progress: a bar on a terminal, else a line per finished mixture and every 30 s with an ETA."""
    log = log or _say
    if not mixtures or not valid:
        raise ConfigError("a mixing experiment needs at least one mixture and one validation domain")
    names = {tuple(m.names) for m in mixtures.values()}
    if len(names) != 1:
        raise ConfigError(f"every mixture must name the same sources in the same order, got {sorted(names)}")
    tier = resolve_tier(tier, overrides, off_leaderboard=True)
    ours = ray_init(workers, None)  # one Ray session for every tokenize call
    try:
        return _run_all(mixtures, valid, tier, Path(out_dir), tokenizer, workers, seed, val_batches, log)
    finally:
        if ours:
            ray.shutdown()


def _run_all(mixtures, valid, tier, out: Path, tokenizer, workers, seed, val_batches, log) -> list[Run]:
    out.mkdir(parents=True, exist_ok=True)
    tok = tokenizer_for(tier, out, tokenizer, log=log)  # the tier's own unless one is given
    val_dirs = {d: _tokens(spec, out / "valid" / d, tok, tier, seed, workers) for d, spec in valid.items()}
    table = out / "runs.jsonl"
    done = {r.mixture: r for r in load_runs(table)} if table.exists() else {}
    tokens = tier.steps * tier.global_batch * (tier.model.seq_len + 1)
    with Progress(sum(1 for n in mixtures if n not in done), "mix run", "mixtures") as bar:
        for i, (name, mix) in enumerate(mixtures.items(), 1):
            if name in done:
                log(f"[{i}/{len(mixtures)}] {name}: done earlier")
                continue
            shares = " ".join(f"{s}={w:.4g}" for s, w in mix.weights.items())
            log(f"[{i}/{len(mixtures)}] {name}: {shares}")
            bar.set_note(f"{name}: tokenizing")
            data = out / "runs" / name / "tokens"
            tokenize_mixture(mix, str(data), tok, seq_len=tier.model.seq_len, tokens=tokens, workers=workers,
                             seed=seed)
            result = train(tier, data, out / "runs" / name / "model", off_leaderboard=True,
                           log=_training_note(bar, name))
            bar.set_note(f"{name}: validation loss")
            model = build_model(tier, "cpu", init_from=result.model_path)
            losses = {d: validation_loss(model, vd, tier.model.seq_len, max_batches=val_batches)
                      for d, vd in val_dirs.items()}
            log("    " + " ".join(f"{d}={v:.4f}" for d, v in losses.items()))
            run = Run(name, dict(mix.weights), losses, result.steps, float(tier.model_params), dict(mix.sources))
            append_run(table, run)
            done[name] = run
            bar.update(1, note=f"{name} done", line=True)
    return [done[n] for n in mixtures]


def _say(message: str) -> None:
    print(message, flush=True)  # flushed: outside a terminal stdout would hold it until the end


def _training_note(bar: Progress, name: str) -> Callable[[str], None]:
    """The trainer's step lines as the progress note ("web-heavy: step 120 loss 4.0123"), shown every 30 s."""
    def note(line: str) -> None:
        bar.update(0, note=f"{name}: {' '.join(str(line).split()[:4])}")

    return note


def _tokens(spec: str, out: Path, tok: str, tier, seed: int, workers: int | None) -> Path:
    tokenize_dataset(spec, str(out), tok, seq_len=tier.model.seq_len, seed=seed, workers=workers)
    return out
