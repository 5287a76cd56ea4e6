"""Deduplication steps: exact (a hash per document) and BFF-style Bloom-filter n-gram dedup."""
