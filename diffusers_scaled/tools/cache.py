"""Latent cache: a dataset encoded once into sharded safetensors files, for training on latents.

Layout of a cache folder:

    shard-00000.safetensors   # tensors "00000000", "00000000.flipped", ...: each image's tensors, keyed by index
    shard-00001.safetensors
    ...
    cache.json                # written last: the run's settings and the list of shards

Every shard carries its own metadata (safetensors header, strings): `format`, `vae` (class, name, weights hash),
`scaling` (the `LatentScaling` applied, or none: raw latents; for `store="distribution"` the one the reader applies to
its samples), `store`, `dtype`, `seed`, `resolution`, `buckets`, `crop`, `flip`, `alpha_mask`, `shard_size`,
`batch_size` and `images` (per image: see `_cache_layout`, which also says which format-1 caches are still read).
`append=True` adds shards after the last one for the images the cache does not hold (by content hash).

With `skip_bad_images=True`, an image file that cannot be read is left out, logged and recorded (index, source,
reason) in its shard's `skipped` metadata and in `cache.json`; the other images keep their indices.

A shard is written to a temporary file and moved into place (`diffusers_scaled.atomic`), so a shard file is either
complete or absent. A run that is killed and started again with the same settings skips the shards that exist and
writes the others: nothing is lost and nothing is written twice. Shard `s` holds images `s * shard_size ...`; under
`accelerate launch` shard `s` is written by process `s % num_processes`, so processes never write the same file.

Byte-identical: two runs with the same settings and images (on the same device, dtype and thread count, which the
latents themselves depend on), single- or multi-process, write the same bytes to every file: the shards' header
metadata in key order (see `_cache_write.safetensors_bytes`), `cache.json` with its keys in a fixed order.
"""

from __future__ import annotations

import glob
import json
import os
from collections.abc import Iterator

import torch

from .. import atomic, checks
from ..scaling import LatentScaling
from ..vae_codec import IDENTITY
from . import _cache_layout, _cache_write, _clips, _data, _distributed, _encoding
from . import buckets as _buckets
from ._assets import vae_identity


__all__ = ["encode_to_cache", "load_cache"]


# The settings that must match for a resumed run to reuse existing shards, or for `append` to add to a cache.
SETTINGS = (
    "format", "vae", "scaling", "store", "dtype", "seed", "resolution", "buckets", "crop", "flip", "alpha_mask",
    "shard_size", "batch_size", "video",
)  # fmt: skip
FORMAT, INDEX_FILE, shard_name = _cache_layout.FORMAT, _cache_layout.INDEX_FILE, _cache_layout.shard_name


def finished_shards(cache_dir: str | os.PathLike) -> list[str]:
    """The names of the shard files in a cache folder, sorted (each is complete: shards are written whole or not at
    all); empty when the folder does not exist. A resumed `encode_to_cache` keeps those written with its settings."""
    pattern = os.path.join(glob.escape(os.fspath(cache_dir)), "shard-[0-9]*.safetensors")  # `shard_name`'s names
    return sorted(os.path.basename(path) for path in glob.glob(pattern))


def _read_metadata(path: str) -> dict | None:
    try:
        return _cache_layout.read_shard_metadata(path)
    except ValueError:  # a foreign or damaged file: treated as absent and rewritten
        return None


def _resolve_buckets(buckets, resolution, min_size, max_size, step, scale_factor) -> list | None:
    if buckets is None:
        if resolution is None:
            return None
        return _buckets.check_buckets([(resolution, resolution)], scale_factor)
    if resolution is None:
        raise ValueError("`buckets` needs a `resolution` (the side of the square of the buckets' area); got None.")
    if buckets == "sdxl":
        buckets = _buckets.sdxl_buckets(resolution, step)
    elif buckets == "generate":
        buckets = _buckets.generate_buckets(resolution, min_size, max_size, step)
    elif isinstance(buckets, str):
        raise ValueError(f'`buckets` must be "sdxl", "generate" or a list of (height, width) pairs; got {buckets!r}.')
    return _buckets.check_buckets(buckets, scale_factor)


def _resolve_store(store, sample_mode) -> str:
    if store is None:
        return "sample" if sample_mode == "sample" else "mean"
    if store not in _cache_write.STORES:
        raise ValueError(f"`store` must be one of {_cache_write.STORES}; got {store!r}.")
    if sample_mode != "sample" and store != "mean":
        raise ValueError(f'`sample_mode="{sample_mode}"` contradicts `store="{store}"`; give `store` alone.')
    return store


def _resolve_dtype(dtype) -> tuple[torch.dtype | None, str | None]:
    if dtype is None:
        return None, None
    names = {value: key for key, value in _cache_write.DTYPES.items()}
    if isinstance(dtype, str) and dtype in _cache_write.DTYPES:
        return _cache_write.DTYPES[dtype], dtype
    if dtype in names:
        return dtype, names[dtype]
    raise ValueError(f"`dtype` must be one of {sorted(_cache_write.DTYPES)} (or the torch dtype); got {dtype!r}.")


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
    buckets: str | list | None = None,
    min_size: int | None = None,
    max_size: int | None = None,
    step: int = 64,
    crop: str = "center",
    flip: bool = False,
    alpha_mask: bool = False,
    store: str | None = None,
    dtype: torch.dtype | str | None = None,
    append: bool = False,
    image_column: str = "image",
    skip_bad_images: bool = False,
    num_frames: int | None = None,
    frame_stride: int = 1,
) -> dict:
    r"""
    Encodes images into a sharded safetensors latent cache; resumable, and spread over processes under
    `accelerate launch`.

    Args:
        vae (`torch.nn.Module`, `str` or `None`): the VAE, a folder or hub id, or `None` for the embedded default.
        images: a folder, an image file, an iterable / `torch.utils.data.Dataset` of images (see `calibrate`), or a
            Hugging Face `datasets.Dataset` / `IterableDataset` (streaming works) with an image column.
        output_dir (`str`): the cache folder (created if needed).
        shard_size (`int`, *optional*, defaults to 256): images per shard file.
        batch_size (`int`, *optional*, defaults to 8): images per `vae.encode` call (all of one bucket).
        resolution (`int`, *optional*, defaults to 256): the square size images are resized and cropped to, or with
            `buckets` the side of the square of the buckets' area; `None` keeps each image's size (centre-cropped
            to a multiple of the VAE's scale factor).
        sample_mode (`str`, *optional*, defaults to `"sample"`): `"argmax"` is `store="mean"` (kept for older code).
        seed (`int`, *optional*, defaults to 0): seeds the posterior samples and random crops.
        raw_latents (`bool`, *optional*, defaults to `False`): store the VAE's raw latents instead of denoiser latents
            (the VAE config's scaling applied). The metadata records which.
        vae_name (`str`, *optional*): the name recorded in the metadata (default: the config's `_name_or_path`).
        progress (`bool`, *optional*, defaults to `True`): show a tqdm progress bar on the main process.
        callback (`Callable[[int, str], None]`, *optional*): called with the shard index and path after each shard
            this process writes.
        num_workers (`int`, *optional*, defaults to 2): threads that read (decode, resize) the next batch's images
            while the current batch encodes; 0 reads them in the calling thread. The cache is the same either way.
        compile (`bool` or `dict`, *optional*, defaults to `False`): run the VAE's encoder through `torch.compile`
            (see `ScaledLatentsMixin.enable_vae_compile`); compiled kernels agree with eager ones to rounding.
        buckets (`str` or `list`, *optional*): aspect-ratio buckets: `"sdxl"` (SDXL's list scaled to `resolution`),
            `"generate"` (kohya's rule from `resolution`, `min_size`, `max_size`, `step`) or a list of
            `(height, width)` pairs; each image goes to the bucket nearest its aspect ratio (see `tools.buckets`).
            Default: one square bucket of `resolution`.
        min_size (`int`, *optional*), max_size (`int`, *optional*), step (`int`, *optional*, defaults to 64): the
            generated buckets' shortest side, longest side and size step.
        crop (`str`, *optional*, defaults to `"center"`): `"center"` or `"random"` (seeded per image).
        flip (`bool`, *optional*, defaults to `False`): also store the latents of the horizontally flipped image.
        alpha_mask (`bool`, *optional*, defaults to `False`): also store the alpha channel (1 where images without
            one) at latent resolution.
        store (`str`, *optional*, defaults to `"sample"`): `"sample"` (a posterior sample), `"mean"` (its mean) or
            `"distribution"` (raw mean and log-variance; `LatentCacheDataset` draws a fresh sample each epoch).
        dtype (`torch.dtype` or `str`, *optional*): store tensors in `float32`, `float16` or `bfloat16` (a cast of
            the encoded values); by default in the VAE's dtype.
        append (`bool`, *optional*, defaults to `False`): add to an existing cache only the images it does not hold
            (by content hash), in new shards after its last one; the settings must be the cache's.
        image_column (`str`, *optional*, defaults to `"image"`): the image column of a Hugging Face dataset.
        skip_bad_images (`bool`, *optional*, defaults to `False`): leave out image files that cannot be read instead
            of raising a `ValueError` that names the file. Each is logged (`diffusers_scaled.tools` logger) and
            recorded, with its index and the reason, in its shard's metadata and in `cache.json` (`"skipped"`); the
            other images keep their indices.
        num_frames (`int`, *optional*): cache video clips of this many frames instead of images (`images` is then a
            folder of video files and/or frame folders, a video file, or a list of clips, each a list of frames; see
            docs/video.md). `vae` must be a video VAE (Wan, LTX-Video, HunyuanVideo, CogVideoX, Mochi), encoding
            each clip as its family's video-conditioned pipeline does (`VaeCodec(vae, clips=True)`); `num_frames - 1`
            must be a multiple of its temporal compression (Wan, HunyuanVideo, CogVideoX 4, LTX-Video 8, Mochi 6).
            Each entry records `num_frames`, `frame_stride`, `source_num_frames` and `fps` (`None` when the source
            records none) beside the sizes; `latent_shape` is `(C, latent_frames, h, w)`.
        frame_stride (`int`, *optional*, defaults to 1): with `num_frames`, take every `frame_stride`-th frame from
            the clip's first one (a clip needs `(num_frames - 1) * frame_stride + 1` frames).

    Returns:
        `dict`: the cache index (also written as `cache.json`): settings, shards, number of images (skipped ones
        included) and the images skipped.

    Raises:
        `ValueError`: if `output_dir` holds shards written with other settings (another VAE, scaling, buckets...).
    """
    run = _CacheRun(locals())  # the arguments above, by name
    with _encoding.BatchLoader(None, num_workers, skip_bad_images, run.plan.read) as loader:
        for shard_index, first, chunk, sources, path in run.shards_to_write(progress):
            _cache_write.write_shard(run.codec, loader, chunk, first, sources, run.settings, run.plan, path)
            if callback is not None:
                callback(shard_index, path)
    return run.finish()


class _CacheRun:
    """One run of `encode_to_cache` (or of `encode_to_cache_ray`) around the shard writing: the checked settings, the
    VAE and its codec, the items, which shards to write, and the index written last.

    `arguments` are `encode_to_cache`'s, by name (all of them; `num_workers`, `progress`, `callback` and
    `skip_bad_images` are for the shard writing, the caller's business).
    """

    def __init__(self, arguments: dict):
        a = arguments
        checks.check_positive_int("shard_size", a["shard_size"])
        _encoding.check_encoding_arguments(a["sample_mode"], a["batch_size"], a["resolution"], a["num_workers"])
        checks.check_choice("crop", a["crop"], _buckets.CROPS)
        store = _resolve_store(a["store"], a["sample_mode"])
        dtype, dtype_name = _resolve_dtype(a["dtype"])
        vae, vae_name = a["vae"], a["vae_name"]
        if vae is None or isinstance(vae, (str, os.PathLike)):
            vae_name = vae_name or (os.fspath(vae) if vae is not None else None)
        self.output_dir = output_dir = os.fspath(a["output_dir"])
        if os.path.exists(output_dir) and not os.path.isdir(output_dir):
            raise ValueError(f"`output_dir` must be a folder (new or a cache to complete); `{output_dir}` is a file.")
        # before anything is created: a missing folder leaves no empty cache
        num_frames, frame_stride = a["num_frames"], a["frame_stride"]
        clips = num_frames is not None
        if clips:
            checks.check_positive_int("num_frames", num_frames)
            checks.check_positive_int("frame_stride", frame_stride)
            self.items = _clips.as_clips(a["images"])
        else:
            if frame_stride != 1:
                raise ValueError(f"`frame_stride` is for video clips and needs `num_frames`; got {frame_stride!r}.")
            self.items = _data.as_items(a["images"], a["image_column"])
        self.raw_latents, self.compile = a["raw_latents"], a["compile"]
        scaling = IDENTITY if self.raw_latents else None
        self.vae, self.codec = _encoding.load_codec(vae, scaling, self.compile, clips=clips)
        if clips:
            _check_clip_settings(self.codec, num_frames, store, a["alpha_mask"])
        buckets, resolution, crop, seed = a["buckets"], a["resolution"], a["crop"], a["seed"]
        if buckets is None:
            _encoding.check_resolution(resolution, self.vae)
        scale_factor = self.codec.image_processor.config.vae_scale_factor
        bucket_list = _resolve_buckets(buckets, resolution, a["min_size"], a["max_size"], a["step"], scale_factor)
        self.rank, self.world_size = _distributed.world()
        if self.rank == 0:
            os.makedirs(output_dir, exist_ok=True)
            _sweep_temporaries(output_dir)  # left by a killed run
        _distributed.barrier()

        self.settings = {
            "format": FORMAT,
            "vae": vae_identity(self.vae, vae_name),
            "scaling": None if self.raw_latents else self.codec.describe_scaling(),
            "store": store,
            "dtype": dtype_name,
            "seed": seed,
            "resolution": resolution,
            "buckets": [list(b) for b in bucket_list] if buckets is not None else None,
            "crop": crop,
            "flip": bool(a["flip"]),
            "alpha_mask": bool(a["alpha_mask"]),
            "shard_size": a["shard_size"],
            "batch_size": a["batch_size"],
            "video": _video_setting(self.codec, num_frames, frame_stride) if clips else None,
        }
        self.plan = _cache_write.Plan(
            bucket_list,
            crop,
            bool(a["flip"]),
            bool(a["alpha_mask"]),
            store,
            dtype,
            seed,
            a["batch_size"],
            scale_factor,
            (num_frames, frame_stride) if clips else None,
        )

        self.shards, self.num_images, self.first_shard = [], 0, 0
        if a["append"]:
            existing = _cache_layout.read_index(output_dir)
            _cache_layout.require_current_format(existing, output_dir)
            _check_same_settings(existing, self.settings, os.path.join(output_dir, INDEX_FILE))
            known = set()
            for name in existing["shards"]:
                metadata = _cache_layout.read_shard_metadata(os.path.join(output_dir, name))
                # an image skipped as unreadable stays skipped until its file changes
                known.update(entry.get("sha256") for entry in metadata["images"] + metadata.get("skipped", []))
            self.items = [item for item in _data.iterate(self.items) if self.plan.content_sha256(item) not in known]
            self.shards, self.num_images = list(existing["shards"]), existing["num_images"]
            self.first_shard = len(existing["shards"])

    def shards_to_write(self, progress: bool) -> Iterator[tuple[int, int, list, list[str], str]]:
        """`(shard index, index of its first image, its items, their sources, its path)` for each shard this process
        writes: its own shards (shard `s` is process `s % num_processes`'s) that are not finished yet."""
        total = _data.num_items(self.items)
        with _encoding.progress_bar(total, "encode", progress and self.rank == 0) as bar:
            shard_size = self.settings["shard_size"]
            for shard_index, chunk in enumerate(_data.chunks(self.items, shard_size), start=self.first_shard):
                path = os.path.join(self.output_dir, shard_name(shard_index))
                first = self.num_images
                sources = [_data.source_name(item, first + i) for i, item in enumerate(chunk)]
                self.shards.append(shard_name(shard_index))
                self.num_images += len(chunk)
                if shard_index % self.world_size == self.rank:
                    existing = _read_metadata(path) if os.path.exists(path) else None
                    if existing is not None:
                        _check_same_settings(existing, self.settings, path)
                    if existing is None or _recorded_sources(existing) != sources:
                        yield shard_index, first, chunk, sources, path
                bar.update(len(chunk))

    def finish(self) -> dict:
        """Writes `cache.json` (process 0, once every process is done) and returns it. Temporaries of killed shard
        writers (a retried Ray task) are removed first."""
        _distributed.barrier()
        skipped = [
            entry
            for name in self.shards
            for entry in _cache_layout.read_shard_metadata(os.path.join(self.output_dir, name)).get("skipped", [])
        ]
        index = {**self.settings, "num_images": self.num_images, "shards": self.shards, "skipped": skipped}
        if self.rank == 0:
            _sweep_temporaries(self.output_dir)
            atomic.write_text(os.path.join(self.output_dir, INDEX_FILE), json.dumps(index, indent=2) + "\n")
        _distributed.barrier()
        return index


def _check_clip_settings(codec, num_frames: int, store: str, alpha_mask: bool) -> None:
    _clips.check_num_frames(num_frames, codec.vae_scale_factor_temporal, codec.vae)
    if alpha_mask:
        raise ValueError(
            "`alpha_mask` is for images; video clips have no alpha mask. Leave it unset with `num_frames`."
        )
    if store == "distribution":
        raise ValueError(
            '`store="distribution"` is for images: the training reader scales its samples with a `LatentScaling`, '
            f'which {codec.latent_format.name} latents are not. Use `store="sample"` or `"mean"` with `num_frames`.'
        )


def _video_setting(codec, num_frames: int, frame_stride: int) -> dict:
    """The clip settings a cache records (and a resumed or appending run must match)."""
    return {
        "num_frames": num_frames,
        "frame_stride": frame_stride,
        "latent_frames": (num_frames - 1) // codec.vae_scale_factor_temporal + 1,
        "format": codec.latent_format.name,
    }


def _sweep_temporaries(output_dir: str) -> None:
    """Removes the temporaries of shards whose writer was killed (see `diffusers_scaled.atomic`)."""
    for stale in glob.glob(os.path.join(output_dir, ".shard-*.tmp-*")):
        os.remove(stale)


def _recorded_sources(metadata: dict) -> list:
    """The sources a shard accounts for, in index order: its images and the images it skipped."""
    entries = metadata.get("images", []) + metadata.get("skipped", [])
    return [entry["source"] for entry in sorted(entries, key=lambda entry: entry["index"])]


def _describe_setting(key: str, value) -> str:
    if key == "scaling":
        if value is None:
            return "raw latents (`raw_latents`)"
        if "format" in value:
            return f"latents scaled as {value['format']} ({value['formula']}) with {value!r}"
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


def load_cache(cache, all_tensors: bool = False) -> Iterator[tuple[dict, torch.Tensor | dict]]:
    r"""
    Iterates over a finished latent cache in image order.

    Args:
        cache (`str` or `datasets.Dataset`): a cache folder, or a cache exported with `cache_to_dataset`.
        all_tensors (`bool`, *optional*, defaults to `False`): yield every tensor of the image (a dict role ->
            tensor: `latents`, and as stored `logvar`, `flipped`, `flipped_logvar`, `alpha_mask`) instead of the
            latents alone.

    Returns:
        An iterator of `(entry, latents)`: `entry` is the image's metadata (`index`, `source`, `sha256`,
        `original_size`, `crop_top_left`, `target_size`, `latent_shape`...; see `tools/_cache_layout.py`) and
        `latents` a `(C, h, w)` tensor (as stored: for a `distribution` cache the posterior mean).

    Raises:
        `FileNotFoundError`: if the cache is unfinished (no `cache.json`) or a shard is missing.
        `ValueError`: if a shard is damaged (truncated, overwritten, not a shard of this cache), naming it.
    """
    if not isinstance(cache, (str, os.PathLike)):
        from .hf_datasets import iterate_exported

        yield from iterate_exported(cache, all_tensors)
        return
    yield from _cache_layout.iterate_folder(os.fspath(cache), all_tensors)
