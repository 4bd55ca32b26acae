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
        problems (`dict[str, list[str]]`): file name -> what is wrong with it (empty when the cache is sound).
    """

    num_shards: int = 0
    num_images: int = 0
    problems: dict[str, list[str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, name: str, problem: str) -> None:
        self.problems.setdefault(name, []).append(problem)


def _check_shard(path: str, index: dict, expected_first: int | None, report: VerifyReport) -> tuple[int, int | None]:
    """Checks one shard; returns the number of images its header lists (0 if unreadable) and the index the next
    shard should start at (`None` if unknown: the next shard's first index is then taken as it is)."""
    from safetensors import safe_open

    from ._cache_write import _tensor_sha256

    name = os.path.basename(path)
    if not os.path.isfile(path):
        report.add(name, "missing")
        return 0, None
    try:
        metadata = _cache_layout.read_shard_metadata(path)
        entries = metadata["images"]
    except (ValueError, KeyError) as error:
        report.add(name, f"unreadable header ({error})")
        return 0, None
    for key in ("format", "vae", "scaling", "store", "dtype", "buckets", "flip", "alpha_mask", "shard_size"):
        if metadata.get(key) != index.get(key):
            report.add(name, f"setting `{key}` is {metadata.get(key)!r}, the index says {index.get(key)!r}")
    if expected_first is None:
        expected_first = entries[0].get("index", 0) if entries else 0
    expected = [expected_first + i for i in range(len(entries))]
    if [entry.get("index") for entry in entries] != expected:
        report.add(name, f"image indices are not {expected_first}..{expected_first + len(entries) - 1}")
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
    return len(entries), expected_first + len(entries)


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
        count, following = _check_shard(os.path.join(cache_dir, name), index, following, report)
        report.num_images += count
    if report.num_images != index["num_images"] and not report.problems:
        report.add(
            _cache_layout.INDEX_FILE, f"lists {index['num_images']} images, the shards hold {report.num_images}"
        )
    if sources:
        from ._data import content_sha256

        for name in index["shards"]:
            path = os.path.join(cache_dir, name)
            if name in report.problems:
                continue
            for entry in _cache_layout.read_shard_metadata(path)["images"]:
                source = entry["source"]
                if os.path.isfile(source) and content_sha256(source) != entry["sha256"]:
                    report.add(source, "the source image changed since it was encoded")
    return report
