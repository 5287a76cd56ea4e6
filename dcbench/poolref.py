"""Resolve what a user calls a pool into an ordered list of shard URIs and an id.

A pool (or dataset) with a manifest is verified before any work starts, so
the id chain cannot lie: every listed shard must exist with the size the
manifest records (checked every time), and its sha256 must match (checked
once per file version: a verified (path, size, mtime) is remembered in
`$DCBENCH_CACHE/verified/<manifest hash>.json`, default ~/.cache/dcbench, one
small file per manifest holding only its current shards). Any mismatch is a
DataError (exit 3) naming the shard.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fsspec

from dcbench.atomic import TEMP_MARK, write_atomic
from dcbench.cache import cache_dir
from dcbench.errors import DataError
from dcbench.manifest import MANIFEST_NAME, Manifest, ShardEntry, content_id
from dcbench.shards import sha256_of, shard_format, shard_stem

VERIFIED_DIR = "verified"


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
    verify_shards(m.shards, uris, manifest_uri)
    return PoolRef(tuple(uris), m.id, m.name)


def verify_shards(entries: list[ShardEntry], uris: list[str], manifest_uri: str) -> None:
    """Sizes of every shard, sha256 of those not verified before; DataError naming the first bad one."""
    infos = [_info(u, manifest_uri) for u in uris]
    for e, u, info in zip(entries, uris, infos):
        if int(info.get("size") or 0) != e.bytes:
            raise DataError(f"shard {u} has {info.get('size')} bytes but {manifest_uri} lists {e.bytes}: it changed "
                            f"after the manifest was written; restore it or rebuild the pool")
    cache_file = _cache_path(manifest_uri)
    cache = _load_cache(cache_file)
    keys = [_cache_key(u, info) for u, info in zip(uris, infos)]
    todo = [(e, u, k) for e, u, k in zip(entries, uris, keys) if e.sha256 and (k is None or cache.get(k) != e.sha256)]
    if not todo:
        return
    total = sum(e.bytes for e, _, _ in todo)
    print(f"verifying {len(todo)} shard(s), {total / 1e6:,.1f} MB, against {manifest_uri} (once per file)",
          file=sys.stderr)
    for e, u, key in todo:
        _, digest = sha256_of(u)
        if digest != e.sha256:
            raise DataError(f"shard {u} does not match its sha256 in {manifest_uri}: it changed after the "
                            f"manifest was written; restore it or rebuild the pool")
        if key:
            cache[key] = digest
    _save_cache(cache_file, {k: cache[k] for k in keys if k in cache})


def _info(uri: str, manifest_uri: str) -> dict[str, Any]:
    fs, path = fsspec.core.url_to_fs(uri)
    try:
        return fs.info(path)
    except FileNotFoundError:
        raise DataError(f"shard {uri} is listed in {manifest_uri} but missing; restore it or rebuild the "
                        f"pool") from None


def _cache_key(uri: str, info: dict[str, Any]) -> str | None:
    """path|size|mtime (or ETag where a store has no mtime); None where there is neither."""
    stamp = info.get("mtime") or info.get("LastModified") or info.get("ETag") or info.get("etag")
    if stamp is None:
        return None
    path = uri if "://" in uri else os.path.abspath(uri)
    return f"{path}|{info.get('size')}|{stamp}"


def _cache_path(manifest_uri: str) -> Path:
    where = manifest_uri if "://" in manifest_uri else os.path.abspath(manifest_uri)
    name = hashlib.sha256(where.encode()).hexdigest()[:16]
    return cache_dir() / VERIFIED_DIR / f"{name}.json"


def _load_cache(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _save_cache(path: Path, cache: dict[str, str]) -> None:
    """Atomic; a concurrent run's lost update only costs it a re-hash."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps(cache, sort_keys=True))
    except OSError as e:  # a read-only home: verification still happened, only not remembered
        print(f"note: cannot remember verified shards in {path} ({e})", file=sys.stderr)


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
