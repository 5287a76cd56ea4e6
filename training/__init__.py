"""What no submission changes: the tokenizer, tokenize+shuffle, the
OpenLM-style model at DCLM's scales, the trainer and Inheritune.

Interfaces between the modules (each module owns one):
  scales.py     ModelConfig, Tier, TIERS, get_tier(name), param_count(cfg), flops_per_token(cfg)
  model.py      OpenLM(cfg): forward(input_ids[B, T]) -> logits[B, T, vocab]; .layers, .tok_embeddings,
                .norm, .output; init_weights(model, seed)
  tokenizer.py  load_tokenizer(path), download_tokenizer(dest, base_url=...), train_bpe(...)
  tokenize.py   tokenize_dataset(...) -> token shards + manifest (Ray, two-stage shuffle)
  data.py       TokenShards(path).batches(...) -> LongTensor[B, seq_len + 1]
  trainer.py    train(...) (AdamW, warmup + cosine, z-loss, bf16 autocast, accumulation,
                checkpoints, FSDP2 under torchrun)
  inheritune.py inherit(...) and the grow mode
"""
