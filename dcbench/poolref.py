"""Resolve what a user calls a pool into an ordered list of shard URIs and an id."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import fsspec

from dcbench.atomic import TEMP_MARK
from dcbench.errors import DataError
from dcbench.manifest import MANIFEST_NAME, Manifest, content_id
from dcbench.shards import shard_format, shard_stem


@dataclass(frozen=True)
class PoolRef:
    uris: tuple[str, ...]
    id: str
    name: str


def resolve_pool(spec: str) -> PoolRef:
    """A pool is a manifest file, a directory (with or without manifest.json),
    a glob, or one shard; local or any fsspec URI."""
    fs, path = fsspec.core.url_to_fs(spec)
    proto = spec.split("://", 1)[0] + "://" if "://" in spec else ""

    def uri(p: str) -> str:
        return p if not proto or p.startswith(proto) else proto + p

    if path.endswith(".json") and fs.isfile(path):
        return _from_manifest(spec, spec.rsplit("/", 1)[0] if "/" in spec else ".")
    if fs.isdir(path):
        if fs.isfile(f"{path.rstrip('/')}/{MANIFEST_NAME}"):
            return _from_manifest(f"{spec.rstrip('/')}/{MANIFEST_NAME}", spec.rstrip("/"))
        found = sorted(p for p in fs.find(path) if _is_shard(p))
    elif any(c in path for c in "*?["):
        found = sorted(p for p in fs.glob(path) if _is_shard(p))
    elif fs.isfile(path) and _is_shard(path):
        found = [path]
    else:
        raise DataError(f"pool {spec!r} not found: give a directory of shards, a manifest.json, a glob or a shard")
    if not found:
        raise DataError(f"pool {spec!r} holds no shards (.jsonl, .jsonl.gz, .jsonl.zst, .parquet)")
    _check_unique_stems(found, spec)
    # Without a manifest the pool is identified by its shards' names and sizes.
    ident = content_id("pool", sorted((Path(p).name, fs.size(p)) for p in found))
    return PoolRef(tuple(uri(p) for p in found), ident, Path(path.rstrip("/")).name or spec)


def _from_manifest(manifest_uri: str, base: str) -> PoolRef:
    m = Manifest.load(manifest_uri)
    uris = m.shard_uris(base)
    _check_unique_stems(uris, manifest_uri)
    return PoolRef(tuple(uris), m.id, m.name)


def _is_shard(path: str) -> bool:
    if TEMP_MARK in path.rsplit("/", 1)[-1]:
        return False
    try:
        shard_format(path)
        return True
    except DataError:
        return False


def _check_unique_stems(uris: list[str], spec: str) -> None:
    stems: dict[str, str] = {}
    for u in uris:
        s = shard_stem(u)
        if s in stems:
            raise DataError(f"pool {spec}: shards {stems[s]} and {u} share the name {s!r}; outputs would collide")
        stems[s] = u




def pool_dir(spec: str) -> str:
    """The directory a pool lives in (for `{pool}` in recipes): the directory
    itself, a manifest's or a shard's directory, or a glob's fixed prefix."""
    fs, path = fsspec.core.url_to_fs(spec)
    if fs.isdir(path):
        return spec.rstrip("/")
    head = spec.split("*", 1)[0].split("?", 1)[0].split("[", 1)[0]
    return head.rsplit("/", 1)[0] if "/" in head else "."
