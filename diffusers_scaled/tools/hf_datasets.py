"""A latent cache as a Hugging Face `datasets.Dataset`, to share it with `push_to_hub` (needs `datasets`:
`pip install "diffusers-scaled[datasets]"`).

One row per image. Columns: `index`, `source`, `sha256`, `original_size`, `crop_top_left`, `target_size` (for
browsing and filtering), `entry` (the image's full cache metadata as JSON) and one `binary` column per stored tensor
(`latents`, and as stored `logvar`, `flipped`, `flipped_logvar`, `alpha_mask`): the tensor's bytes, little-endian, in
its stored dtype (bfloat16 included), exactly. The cache's settings (VAE, scaling, store, dtype, buckets...) and each
tensor column's dtype are in `dataset.info.description` as JSON. `load_cache(dataset)` gives back the cache's tensors.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator

import torch

from . import _cache_layout


__all__ = ["cache_to_dataset"]


_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16, "float64": torch.float64}


def _import_datasets():
    try:
        import datasets
    except ImportError:
        raise ImportError(
            'Exporting a cache needs the `datasets` package: `pip install "diffusers-scaled[datasets]"`.'
        ) from None
    return datasets


def _rows(cache_dir: str, roles: tuple[str, ...]) -> Iterator[dict]:
    for entry, tensors in _cache_layout.iterate_folder(cache_dir, all_tensors=True):
        row = {key: entry.get(key) for key in ("index", "source", "sha256")}
        row.update({key: entry.get(key) for key in ("original_size", "crop_top_left", "target_size")})
        row["entry"] = json.dumps(entry, sort_keys=True)
        for role in roles:
            row[role] = tensors[role].contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()
        yield row


def _tensor_dtypes(cache_dir: str, index: dict) -> dict[str, str]:
    from safetensors import safe_open

    path = os.path.join(cache_dir, index["shards"][0])
    with safe_open(path, framework="pt") as f:
        entry = json.loads(f.metadata()["images"])[0]
        names = {"F32": "float32", "F16": "float16", "BF16": "bfloat16", "F64": "float64"}
        return {role: names[f.get_slice(name).get_dtype()] for role, name in entry["tensors"].items()}


def cache_to_dataset(cache_dir: str | os.PathLike):
    r"""
    Exports a finished latent cache as a `datasets.Dataset` (one row per image; see the module docstring).

    Args:
        cache_dir (`str`): the cache folder.

    Returns:
        `datasets.Dataset`: save it with `save_to_disk` or share it with `push_to_hub`; `load_cache(dataset)` reads it.

    Examples:

    ```py
    >>> from diffusers_scaled.tools import cache_to_dataset, load_cache

    >>> dataset = cache_to_dataset("latents/")
    >>> entry, latents = next(iter(load_cache(dataset)))
    ```
    """
    datasets = _import_datasets()
    cache_dir = os.fspath(cache_dir)
    index = _cache_layout.read_index(cache_dir)
    _cache_layout.require_current_format(index, cache_dir)
    dtypes = _tensor_dtypes(cache_dir, index) if index["shards"] else {}
    roles = [role for role in _cache_layout.ROLES if role in dtypes]
    pair = datasets.Sequence(datasets.Value("int64"), length=2)
    features = datasets.Features(
        {
            "index": datasets.Value("int64"),
            "source": datasets.Value("string"),
            "sha256": datasets.Value("string"),
            "original_size": pair,
            "crop_top_left": pair,
            "target_size": pair,
            "entry": datasets.Value("string"),
            **{role: datasets.Value("binary") for role in roles},
        }
    )
    # The fingerprint covers the index and every shard's size and time, so a changed cache is never served from the
    # datasets cache of an earlier export.
    stamp = [(name, os.stat(os.path.join(cache_dir, name)).st_mtime_ns) for name in index["shards"]]
    dataset = datasets.Dataset.from_generator(
        _rows,
        features=features,
        gen_kwargs={"cache_dir": cache_dir, "roles": tuple(roles)},  # a list would be split across shards
        fingerprint=hashlib.sha256(json.dumps([index, stamp], sort_keys=True).encode()).hexdigest()[:32],
    )
    settings = {key: index[key] for key in index if key not in ("shards",)}
    dataset.info.description = json.dumps({"diffusers_scaled_cache": settings, "tensor_dtypes": dtypes})
    return dataset


def _settings(dataset) -> dict:
    try:
        return json.loads(dataset.info.description)
    except (TypeError, ValueError, AttributeError):
        raise ValueError(
            "`cache` must be a cache folder or a dataset made by `cache_to_dataset`; this dataset's "
            "`info.description` holds no cache settings."
        ) from None


def iterate_exported(dataset, all_tensors: bool = False) -> Iterator[tuple[dict, torch.Tensor | dict]]:
    """`load_cache` of an exported cache: `(entry, latents)` (or `(entry, {role: tensor})`) per row."""
    described = _settings(dataset)
    dtypes = described.get("tensor_dtypes")
    if "diffusers_scaled_cache" not in described or dtypes is None:
        raise ValueError("`cache` is a dataset without cache settings; export caches with `cache_to_dataset`.")
    for row in dataset:
        entry = json.loads(row["entry"])
        shapes = dict.fromkeys(dtypes, entry["latent_shape"])
        if "alpha_mask" in shapes:
            shapes["alpha_mask"] = entry["latent_shape"][1:]
        tensors = {}
        for role, name in dtypes.items():
            data = bytearray(row[role])  # writable, so torch.frombuffer does not warn
            tensor = torch.frombuffer(data, dtype=torch.uint8).view(_DTYPES[name]).reshape(shapes[role])
            tensors[role] = tensor  # safetensors and this export are little-endian, as torch is on x86 and ARM
        yield entry, (tensors if all_tensors else tensors["latents"])
