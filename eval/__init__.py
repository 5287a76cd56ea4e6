"""The fixed evaluator: LLM-Foundry task formats, in-context scoring, suites and aggregation."""
