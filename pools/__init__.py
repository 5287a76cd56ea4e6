"""Where documents come from: the tier -> pool table, pool manifests,
download, WARC/WET ingestion and the embedded toy pool."""
