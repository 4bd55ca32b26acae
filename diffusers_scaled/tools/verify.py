"""Checking a latent cache: every shard's header, tensor count, shapes, dtypes and tensor hashes."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from . import _cache_layout


__all__ = ["VerifyReport", "verify_cache"]


_SAFETENSORS_DTYPES = {"float32": "F32", "float16": "F16", "bfloat16": "BF16"}


@dataclass
class VerifyReport:
    r"""
    What `verify_cache` found.

    Attributes:
        num_shards (`int`): shards the index lists.
        num_images (`int`): images in the shards that could be read.
        num_skipped (`int`): images those shards record as skipped (unreadable files, `skip_bad_images`).
        problems (`dict[str, list[str]]`): file name -> what is wrong with it (empty when the cache is sound).
    """

    num_shards: int = 0
    num_images: int = 0
    num_skipped: int = 0
    problems: dict[str, list[str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, name: str, problem: str) -> None:
        self.problems.setdefault(name, []).append(problem)


def _check_shard(path: str, index: dict, expected_first: int | None, report: VerifyReport) -> int | None:
    """Checks one shard and counts its images and skipped images in `report`; returns the index the next shard should
    start at (`None` if unknown: the next shard's first index is then taken as it is)."""
    from safetensors import safe_open

    from ._cache_write import _tensor_sha256

    name = os.path.basename(path)
    if not os.path.isfile(path):
        report.add(name, "missing")
        return None
    try:
        metadata = _cache_layout.read_shard_metadata(path)
        entries, skipped = metadata["images"], metadata.get("skipped", [])
    except (ValueError, KeyError) as error:
        report.add(name, f"unreadable header ({error})")
        return None
    for key in ("format", "vae", "scaling", "store", "dtype", "buckets", "flip", "alpha_mask", "shard_size"):
        if metadata.get(key) != index.get(key):
            report.add(name, f"setting `{key}` is {metadata.get(key)!r}, the index says {index.get(key)!r}")
    report.num_images += len(entries)
    report.num_skipped += len(skipped)
    indices = [entry.get("index", -1) for entry in entries]
    accounted = sorted(indices + [entry.get("index", -1) for entry in skipped])
    if expected_first is None:
        expected_first = accounted[0] if accounted else 0
    last = expected_first + len(accounted) - 1
    if accounted != list(range(expected_first, last + 1)) or indices != sorted(indices):
        report.add(name, f"image indices (skipped ones included) are not {expected_first}..{last}")
    want_dtype = _SAFETENSORS_DTYPES.get(index.get("dtype"))
    try:
        with safe_open(path, framework="pt") as f:
            stored = set(f.keys())
            listed = {tensor for entry in entries for tensor in entry["tensors"].values()}
            if stored != listed:
                report.add(name, f"holds {len(stored)} tensors, its header lists {len(listed)}")
            for entry in entries:
                for role, tensor in entry["tensors"].items():
                    if tensor not in stored:
                        continue
                    piece = f.get_slice(tensor)
                    shape = entry["latent_shape"][1:] if role == "alpha_mask" else entry["latent_shape"]
                    if list(piece.get_shape()) != list(shape):
                        report.add(name, f"tensor `{tensor}` has shape {piece.get_shape()}, expected {shape}")
                        continue
                    if want_dtype is not None and piece.get_dtype() != want_dtype:
                        report.add(name, f"tensor `{tensor}` is {piece.get_dtype()}, the cache stores {want_dtype}")
                    value = f.get_tensor(tensor)
                    if _tensor_sha256(value) != entry["tensor_sha256"][role]:
                        report.add(name, f"tensor `{tensor}` does not match its SHA-256 (damaged data)")
    except Exception as error:  # safetensors raises several types for truncated or damaged data
        report.add(name, f"unreadable data ({type(error).__name__}: {error})")
    return expected_first + len(accounted)


def verify_cache(cache_dir: str | os.PathLike, sources: bool = False) -> VerifyReport:
    r"""
    Checks a finished latent cache: the index, and in every shard the header (format, settings), the image indices,
    the number of tensors, each tensor's shape, dtype and SHA-256 (recorded when it was written).

    Args:
        cache_dir (`str`): the cache folder.
        sources (`bool`, *optional*, defaults to `False`): also hash every source image file that still exists and
            report those whose content changed since they were encoded.

    Returns:
        `VerifyReport`: `report.ok`, and `report.problems` naming each bad file and what is wrong with it.

    Raises:
        `FileNotFoundError` / `ValueError`: if the folder is not a finished format-2 cache.
    """
    cache_dir = os.fspath(cache_dir)
    index = _cache_layout.read_index(cache_dir)
    _cache_layout.require_current_format(index, cache_dir)
    report = VerifyReport(num_shards=len(index["shards"]))
    following = 0
    for name in index["shards"]:
        following = _check_shard(os.path.join(cache_dir, name), index, following, report)
    if not report.problems:
        held = report.num_images + report.num_skipped
        if held != index["num_images"]:
            report.add(_cache_layout.INDEX_FILE, f"lists {index['num_images']} images, the shards account for {held}")
        shards = [_cache_layout.read_shard_metadata(os.path.join(cache_dir, n)) for n in index["shards"]]
        if index.get("skipped", []) != [entry for shard in shards for entry in shard.get("skipped", [])]:
            report.add(_cache_layout.INDEX_FILE, "its `skipped` list is not the shards' skipped images")
    if sources:
        from ._clips import content_sha256 as clip_sha256
        from ._data import content_sha256

        for name in index["shards"]:
            path = os.path.join(cache_dir, name)
            if name in report.problems:
                continue
            for entry in _cache_layout.read_shard_metadata(path)["images"]:
                source = entry["source"]
                hash_of = clip_sha256 if "num_frames" in entry else content_sha256  # a video clip: a file or frames
                if os.path.exists(source) and hash_of(source) != entry["sha256"]:
                    report.add(source, "the source image changed since it was encoded")
    return report
