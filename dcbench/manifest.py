"""Manifests and content ids.

Every artefact (a pool, a curated dataset, later token shards, models, eval
results) is described by a manifest: its shards with sizes, sha256 and
document counts, the ids of its inputs, and its own content id. The id is a
hash of the inputs' ids, the resolved configuration, the code version and
the output shards' hashes, so the chain pool -> dataset -> tokens -> model
-> eval can be verified by recomputing it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import PurePosixPath
from typing import Any

import fsspec

from dcbench import __version__
from dcbench.atomic import write_atomic
from dcbench.errors import DataError
from dcbench.shards import shard_stem

MANIFEST_NAME = "manifest.json"
SCHEMA_VERSION = 1


def content_id(kind: str, payload: Any) -> str:
    """`kind-<16 hex>`: sha256 of the canonical JSON of `payload`."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return f"{kind}-{hashlib.sha256(canonical.encode()).hexdigest()[:16]}"


@dataclass
class ShardEntry:
    path: str  # relative to the manifest's directory, or an absolute URI
    bytes: int
    sha256: str  # of the file's bytes: what a download verifies
    documents: int
    records: str = ""  # of the decompressed records (ShardInfo.records): what ids hash; "" where unknown


@dataclass
class Manifest:
    kind: str  # "pool", "dataset", ...
    name: str
    shards: list[ShardEntry]
    inputs: dict[str, Any] = field(default_factory=dict)  # ids and config this artefact came from
    extra: dict[str, Any] = field(default_factory=dict)  # stage-specific facts (stats, tier, ...)
    id: str = ""
    created_by: str = f"dcbench {__version__}"
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        self.shards = [s if isinstance(s, ShardEntry) else ShardEntry(**s) for s in self.shards]
        if not self.id:
            self.id = self.compute_id()

    def compute_id(self) -> str:
        # Records, not file bytes: a zlib/zstandard/pyarrow upgrade re-encodes the same records differently.
        shards = sorted((shard_stem(s.path), s.records) if s.records else (PurePosixPath(s.path).name, s.sha256)
                        for s in self.shards)
        return content_id(self.kind, {"inputs": self.inputs, "shards": shards, "code": __version__})

    @property
    def documents(self) -> int:
        return sum(s.documents for s in self.shards)

    @property
    def bytes(self) -> int:
        return sum(s.bytes for s in self.shards)

    def shard_uris(self, base: str) -> list[str]:
        """Absolute URIs of the shards, resolving relative paths against `base` (the manifest's dir)."""
        return [s.path if "://" in s.path or s.path.startswith("/") else f"{base.rstrip('/')}/{s.path}" for s in self.shards]

    def to_json(self) -> str:
        data = asdict(self)
        data["documents"], data["bytes"] = self.documents, self.bytes
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"

    def save(self, uri: str) -> None:
        """Write atomically (`dcbench.atomic`)."""
        write_atomic(uri, self.to_json())

    @classmethod
    def load(cls, uri: str) -> "Manifest":
        try:
            with fsspec.open(uri, "r") as f:
                data = json.load(f)
        except FileNotFoundError as e:
            raise DataError(f"manifest not found: {uri}") from e
        except json.JSONDecodeError as e:
            raise DataError(f"{uri}: not a JSON manifest ({e})") from e
        if not isinstance(data, dict) or "shards" not in data:
            raise DataError(f"{uri}: not a dcbench manifest (no 'shards' list)")
        if data.get("schema_version", 1) > SCHEMA_VERSION:
            raise DataError(f"{uri}: manifest schema {data['schema_version']} is newer than this dcbench; upgrade")
        data.pop("documents", None)
        data.pop("bytes", None)
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})
