"""Latent cache: a dataset encoded once into sharded safetensors files, for training on latents.

Layout of a cache folder:

    shard-00000.safetensors   # tensors "00000000", "00000001", ...: one latent (C, h, w) per image, keyed by index
    shard-00001.safetensors
    ...
    cache.json                # written last: the run's settings and the list of shards

Every shard carries its own metadata (safetensors header, strings): `format`, `vae` (class, name, weights hash),
`scaling` (the `LatentScaling` applied, or none: raw latents), `sample_mode`, `seed`, `resolution`, `shard_size`
and `images` (per image: index, source, original size, latent shape).

A shard is written to a temporary file and moved into place (`diffusers_scaled.atomic`), so a shard file is either
complete or absent. A run that is killed and started again with the same settings skips the shards that exist and
writes the others: nothing is lost and nothing is written twice. Shard `s` holds images `s * shard_size ...`; under
`accelerate launch` shard `s` is written by process `s % num_processes`, so processes never write the same file.

Byte-identical: two runs with the same settings and images (on the same device, dtype and thread count, which the
latents themselves depend on), single- or multi-process, write the same bytes to every file: the shards' header
metadata in key order (see `_safetensors_bytes`), `cache.json` with its keys in a fixed order.
"""

from __future__ import annotations

import glob
import json
import os
from collections.abc import Iterator

import torch
from safetensors import safe_open
from safetensors.torch import save

from .. import atomic, checks
from ..scaling import LatentScaling
from ..vae_codec import IDENTITY
from . import _data, _distributed, _encoding
from ._assets import read_json, vae_identity


__all__ = ["encode_to_cache", "load_cache"]


FORMAT = "diffusers-scaled-latent-cache/1"
INDEX_FILE = "cache.json"
# The settings that must match for a resumed run to reuse existing shards.
SETTINGS = ("format", "vae", "scaling", "sample_mode", "seed", "resolution", "shard_size", "batch_size")


def shard_name(index: int) -> str:
    return f"shard-{index:05d}.safetensors"


def finished_shards(cache_dir: str | os.PathLike) -> list[str]:
    """The names of the shard files in a cache folder, sorted (each is complete: shards are written whole or not at
    all); empty when the folder does not exist. A resumed `encode_to_cache` keeps those written with its settings."""
    pattern = os.path.join(glob.escape(os.fspath(cache_dir)), "shard-[0-9]*.safetensors")  # `shard_name`'s names
    return sorted(os.path.basename(path) for path in glob.glob(pattern))


def _read_metadata(path: str) -> dict | None:
    try:
        with safe_open(path, framework="pt") as f:
            metadata = f.metadata() or {}
    except Exception:  # a foreign or damaged file: treated as absent and rewritten
        return None
    try:
        return {key: json.loads(value) for key, value in metadata.items()}
    except json.JSONDecodeError:
        return None


def encode_to_cache(
    vae: torch.nn.Module | str | os.PathLike | None,
    images,
    output_dir: str | os.PathLike,
    shard_size: int = 256,
    batch_size: int = 8,
    resolution: int | None = 256,
    sample_mode: str = "sample",
    seed: int = 0,
    raw_latents: bool = False,
    vae_name: str | None = None,
    progress: bool = True,
    callback=None,
    num_workers: int = 2,
    compile: bool | dict = False,
    skip_bad_images: bool = False,
) -> dict:
    r"""
    Encodes images into a sharded safetensors latent cache; resumable, and spread over processes under
    `accelerate launch`.

    Args:
        vae, images, batch_size, resolution, sample_mode, seed, progress, num_workers, compile:
            As in [`calibrate`]; the cache is the same whatever `num_workers`.
        skip_bad_images (`bool`, *optional*, defaults to `False`): leave out image files that cannot be read instead
            of raising a `ValueError` that names the file. Each is logged (`diffusers_scaled.tools` logger) and
            recorded, with its index and the reason, in its shard's metadata and in `cache.json` (`"skipped"`); the
            other images keep their indices.
        output_dir (`str`): the cache folder (created if needed).
        shard_size (`int`, *optional*, defaults to 256): images per shard file.
        raw_latents (`bool`, *optional*, defaults to `False`): store the VAE's raw latents instead of denoiser latents
            (the VAE config's scaling applied). The metadata records which.
        vae_name (`str`, *optional*): the name recorded in the metadata (default: the config's `_name_or_path`).
        callback (`Callable[[int, str], None]`, *optional*): called with the shard index and path after each shard
            this process writes.

    Returns:
        `dict`: the cache index (also written as `cache.json`): settings, shards, number of images (skipped ones
        included) and the images skipped.

    Raises:
        `ValueError`: if `output_dir` holds shards written with other settings (another VAE, scaling, resolution...).
    """
    checks.check_positive_int("shard_size", shard_size)
    _encoding.check_encoding_arguments(sample_mode, batch_size, resolution, num_workers)
    if vae is None or isinstance(vae, (str, os.PathLike)):
        vae_name = vae_name or (os.fspath(vae) if vae is not None else None)
    output_dir = os.fspath(output_dir)
    if os.path.exists(output_dir) and not os.path.isdir(output_dir):
        raise ValueError(f"`output_dir` must be a folder (new or a cache to complete); `{output_dir}` is a file.")
    items = _data.as_items(images)  # before anything is created: a missing image folder leaves no empty cache
    vae, codec = _encoding.load_codec(vae, IDENTITY if raw_latents else None, compile)
    _encoding.check_resolution(resolution, vae)
    scaling = None if raw_latents else codec.latent_scaling
    rank, world_size = _distributed.world()
    if rank == 0:
        os.makedirs(output_dir, exist_ok=True)
        for stale in glob.glob(os.path.join(output_dir, ".shard-*.tmp-*")):
            os.remove(stale)  # left by a killed run
    _distributed.barrier()

    settings = {
        "format": FORMAT,
        "vae": vae_identity(vae, vae_name),
        "scaling": scaling.to_dict() if scaling else None,
        "sample_mode": sample_mode,
        "seed": seed,
        "resolution": resolution,
        "shard_size": shard_size,
        "batch_size": batch_size,
    }

    total = _data.num_items(items)
    shards = []
    num_images = 0
    bars = _encoding.progress_bar(total, "encode", progress and rank == 0)
    with bars as bar, _encoding.BatchLoader(resolution, num_workers, skip_bad_images) as loader:
        for shard_index, chunk in enumerate(_data.chunks(items, shard_size)):
            path = os.path.join(output_dir, shard_name(shard_index))
            first = shard_index * shard_size
            sources = [_data.source_name(item, first + i) for i, item in enumerate(chunk)]
            shards.append(shard_name(shard_index))
            num_images += len(chunk)
            if shard_index % world_size == rank:
                existing = _read_metadata(path) if os.path.exists(path) else None
                if existing is not None:
                    _check_same_settings(existing, settings, path)
                if existing is None or _recorded_sources(existing) != sources:
                    _write_shard(codec, loader, chunk, first, sources, settings, path)
                    if callback is not None:
                        callback(shard_index, path)
            bar.update(len(chunk))
    _distributed.barrier()

    skipped = [entry for name in shards for entry in _skipped_in(os.path.join(output_dir, name))]
    index = {**settings, "num_images": num_images, "shards": shards, "skipped": skipped}
    if rank == 0:
        atomic.write_text(os.path.join(output_dir, INDEX_FILE), json.dumps(index, indent=2) + "\n")
    _distributed.barrier()
    return index


def _recorded_sources(metadata: dict) -> list:
    """The sources a shard accounts for, in index order: its images and the images it skipped."""
    entries = metadata.get("images", []) + metadata.get("skipped", [])
    return [entry["source"] for entry in sorted(entries, key=lambda entry: entry["index"])]


def _skipped_in(path: str) -> list[dict]:
    with safe_open(path, framework="pt") as f:
        return json.loads((f.metadata() or {}).get("skipped", "[]"))


def _describe_setting(key: str, value) -> str:
    if key == "scaling":
        if value is None:
            return "raw latents (`raw_latents`)"
        return f"latents scaled with {LatentScaling.from_dict(value).describe()}"
    if key == "vae" and isinstance(value, dict):
        return (
            f"{value.get('class')} {value.get('name')!r} (weights sha256 {str(value.get('weights_sha256'))[:12]}...)"
        )
    return repr(value)


def _check_same_settings(existing: dict, settings: dict, path: str) -> None:
    different = [key for key in SETTINGS if existing.get(key) != settings[key]]
    if different:
        details = "; ".join(
            f"{k}: the cache has {_describe_setting(k, existing.get(k))}, this run {_describe_setting(k, settings[k])}"
            for k in different
        )
        raise ValueError(
            f"`{path}` was written with other settings ({details}). Use another output folder, or delete it to "
            "re-encode."
        )


def _write_shard(codec, loader, chunk, first: int, sources: list[str], settings: dict, path: str) -> None:
    tensors, entries, skipped = {}, [], []
    batch_size = settings["batch_size"]
    starts = range(0, len(chunk), batch_size)
    batches = loader.map(chunk[start : start + batch_size] for start in starts)
    for start, (_, batch) in zip(starts, batches):
        for position, source, reason in batch.skipped:
            skipped.append({"index": first + start + position, "source": source, "reason": reason})
        if not batch.images:
            continue
        generator = _encoding.batch_generator(settings["seed"], first + start)
        images = batch.images
        latents = _encoding.encode_images(codec, images, settings["resolution"], settings["sample_mode"], generator)
        for position, size, latent in zip(batch.positions, batch.sizes, latents):
            index = first + start + position
            key = f"{index:08d}"
            tensors[key] = latent[0].detach().cpu().contiguous()
            entries.append(
                {
                    "index": index,
                    "key": key,
                    "source": sources[start + position],
                    "original_size": list(size),
                    "latent_shape": list(tensors[key].shape),
                }
            )
    metadata = {key: json.dumps(value, sort_keys=True) for key, value in settings.items()}
    metadata["images"] = json.dumps(entries, sort_keys=True)
    if skipped:
        metadata["skipped"] = json.dumps(skipped, sort_keys=True)
    with atomic.replace_file(path) as tmp, open(tmp, "wb") as f:
        f.write(_safetensors_bytes(tensors, metadata))


def _safetensors_bytes(tensors: dict, metadata: dict) -> bytes:
    """`safetensors.torch.save(tensors, metadata=metadata)` with the header's metadata in key order.

    safetensors orders the tensors itself (by dtype, then name) but keeps the metadata in a Rust hash map, whose order
    changes from one call to the next: the same shard would get other bytes on each run. Only the header's
    `__metadata__` object is rewritten, in safetensors' own header form (compact JSON padded with spaces to a multiple
    of 8 bytes, its length first as 8 little-endian bytes); the tensor data is unchanged.
    """
    data = save(tensors, metadata=metadata)
    length = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + length])
    header["__metadata__"] = dict(sorted(header["__metadata__"].items()))
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    return len(text).to_bytes(8, "little") + text + data[8 + length :]


def load_cache(cache_dir: str | os.PathLike) -> Iterator[tuple[dict, torch.Tensor]]:
    r"""
    Iterates over a finished latent cache in image order: `(entry, latents)` per image, where `entry` holds the
    image's `index`, `source`, `original_size` and `latent_shape` and `latents` is a `(C, h, w)` tensor.

    Raises:
        `FileNotFoundError`: if the cache is unfinished (no `cache.json`) or a shard is missing.
        `ValueError`: if a shard is damaged (truncated, overwritten, not a shard of this cache), naming it.
    """
    index = read_json(
        os.path.join(cache_dir, INDEX_FILE),
        f"`{cache_dir}` has no `{INDEX_FILE}`: the cache is unfinished. Run the same `encode` again to complete it.",
    )
    for name in index["shards"]:
        path = os.path.join(cache_dir, name)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"The cache lists `{name}`, which is missing from `{cache_dir}`.")
        try:
            shard = safe_open(path, framework="pt")
            entries = json.loads((shard.metadata() or {})["images"])
        except Exception as error:  # safetensors' own errors name neither the file nor a way out
            raise ValueError(
                f"The shard `{path}` is damaged ({type(error).__name__}: {error}). Run the same `encode` again: it "
                "keeps the shards that read back complete and writes this one anew."
            ) from error
        with shard:
            for entry in entries:
                yield entry, shard.get_tensor(entry["key"])
