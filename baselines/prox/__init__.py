"""ProX ("Programming Every Example", Zhou et al., arXiv 2409.17115): a small
refining model writes a program for each document, and a safe executor runs it.

* `program`: the parser, the executor and ProX's post-rules (pure functions).
* `chunking`: `[NNN]` line tags, greedy chunk packing and the prompts.
* `generate`: programs from a local causal LM through `transformers` (optional).

The recipe steps `prox_doc` and `prox_chunk` live in `baselines.steps.prox`.
"""
