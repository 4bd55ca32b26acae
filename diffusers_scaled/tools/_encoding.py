"""Batches of source items -> raw latents, through the library's own `encode_latents` (via `VaeCodec`).

Reading an image (open, decode, EXIF-rotate, resize and crop) is host work that a plain loop does while the VAE
waits. `BatchLoader` reads the next batch in worker threads while the current one encodes (PIL releases the GIL
while it decodes and resizes); the images and their order are the same with or without workers.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import PIL.Image
import torch
from tqdm.auto import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from .. import checks
from ..scaling import LatentScaling
from ..vae_codec import VaeCodec, vae_scale_factor
from . import _assets, _data


LOGGER = logging.getLogger("diffusers_scaled.tools")


def check_encoding_arguments(sample_mode, batch_size, resolution, num_workers) -> None:
    """The arguments `calibrate` and `encode_to_cache` share (see `calibrate` for their meaning)."""
    checks.check_sample_mode(sample_mode)
    checks.check_positive_int("batch_size", batch_size)
    checks.check_positive_int("resolution", resolution, allow_none=True)
    checks.check_non_negative_int("num_workers", num_workers)


def load_codec(
    vae: torch.nn.Module | str | os.PathLike | None,
    scaling: LatentScaling | None,
    compile: bool | dict,
    clips: bool = False,
) -> tuple[torch.nn.Module, VaeCodec]:
    """The tools' preamble: the VAE (loaded with `load_vae` when `vae` is a path, a hub id or `None`) and a `VaeCodec`
    on it with `scaling` (`None`: the VAE config's, or with `clips` the family's), its encoder compiled when `compile`
    asks (`True` or the keyword arguments of `enable_vae_compile`); `clips`: the codec encodes video clips."""
    if vae is None or isinstance(vae, (str, os.PathLike)):
        vae = _assets.load_vae(vae)
    codec = VaeCodec(vae, scaling=scaling, clips=clips)
    if compile:
        codec.enable_vae_compile(**(compile if isinstance(compile, dict) else {}))
    return vae, codec


def check_resolution(resolution: int | None, vae: torch.nn.Module) -> None:
    """Refuses a `resolution` the VAE cannot encode as it is: the image processor would crop it down to a multiple of the
    VAE's scale factor, and the latents would not be of the size asked for and recorded."""
    if resolution is None:
        return
    factor = vae_scale_factor(vae)
    if resolution % factor:
        lower, upper = resolution - resolution % factor, resolution - resolution % factor + factor
        raise ValueError(
            f"`resolution` must be a multiple of the VAE's scale factor {factor} (its latents cover {factor}x{factor} "
            f"pixel blocks); got {resolution}. Use {lower or upper}{f' or {upper}' if lower else ''}."
        )


def batch_generator(seed: int, first_index: int) -> torch.Generator:
    """The generator of the batch that starts at item `first_index`: the same whichever process encodes it."""
    return torch.Generator().manual_seed(seed * 1_000_003 + first_index)


def derived_generator(*numbers: int) -> torch.Generator:
    """A generator seeded from a tuple of integers (an FNV-1a-style mix; distinct tuples give distinct seeds in
    practice): per-image crops, per-epoch draws."""
    value = 1469598103934665603
    for number in numbers:
        value = ((value ^ (number & 0xFFFFFFFFFFFFFFFF)) * 1099511628211) % (1 << 64)
    return torch.Generator().manual_seed(value >> 1)


def read_item(item, resolution: int | None) -> tuple[PIL.Image.Image, tuple[int, int]]:
    """An item as the RGB image to encode (resized and centre-cropped to `resolution`) and its original size."""
    original = _data.read_image(item)
    return _data.fit(original, resolution), original.size


class Batch(NamedTuple):
    """A batch as read: the images of its readable items (or what `BatchLoader`'s `read` returned for them), their
    original `(width, height)` (not with `read`) and positions in the batch, and the items skipped as unreadable files
    (`(position, path, reason)`; only with `skip_bad_images`)."""

    images: list[PIL.Image.Image]
    sizes: list[tuple[int, int]]
    positions: list[int]
    skipped: list[tuple[int, str, str]]


class Unreadable(NamedTuple):
    """An image file that could not be read, and why."""

    path: str
    reason: str


def guarded_read(item, read: Callable, skip_bad_images: bool):
    """`read(item)`, with an image file that cannot be read named in the error, or skipped (logged; returns
    `Unreadable`).
    `item` is a path, or a tuple whose first element is the item (the path) and the rest what `read` also needs."""
    try:
        return read(item)
    except ImportError:  # a missing reader (the `video` extra): no file is to blame
        raise
    except Exception as error:  # PIL raises OSError, SyntaxError, ValueError, DecompressionBombError... for bad files
        source = item[0] if isinstance(item, tuple) else item
        if isinstance(source, dict) and isinstance(source.get("image"), (str, os.PathLike)):
            source = source["image"]
        if not isinstance(source, (str, os.PathLike)):
            raise  # an in-memory item: not a file to skip
        path, reason = os.fspath(source), f"{type(error).__name__}: {error}"
        if skip_bad_images:
            LOGGER.warning(f"skipped `{path}`, which cannot be read ({reason})")
            return Unreadable(path, reason)
        raise ValueError(
            f"Cannot read the image file `{path}` ({reason}). Fix or remove it, or skip unreadable images with "
            "`skip_bad_images=True` (command line: `--skip-bad-images`): each is then logged and recorded."
        ) from error


def _collect(results: list, pairs: bool) -> Batch:
    batch = Batch([], [], [], [])
    for position, result in enumerate(results):
        if isinstance(result, Unreadable):
            batch.skipped.append((position, result.path, result.reason))
        elif pairs:
            batch.images.append(result[0])
            batch.sizes.append(result[1])
            batch.positions.append(position)
        else:
            batch.images.append(result)
            batch.positions.append(position)
    return batch


@contextlib.contextmanager
def progress_bar(total: int | None, desc: str, enabled: bool) -> Iterator[tqdm]:
    """A tqdm bar for the block, closed when the block ends, an exception included (an error message then starts on a
    line of its own, and no bar is drawn after it); the tools' log messages (skipped files) print above the bar."""
    with tqdm(total=total, unit="img", desc=desc, disable=not enabled) as bar:
        if not enabled:
            yield bar
            return
        with logging_redirect_tqdm(loggers=[LOGGER]):
            yield bar


class BatchLoader:
    """Reads batches of items ahead of their use, in `num_workers` threads (0: in the caller's thread, when asked).

    `submit(items)` starts reading a batch and returns a function that waits for it and returns it as a `Batch`; an
    exception from reading an item is raised there. With `skip_bad_images`, an image file that cannot be read is left
    out of the batch, logged (`diffusers_scaled.tools` logger) and listed in `Batch.skipped`. With `read` (a function
    of one item), `Batch.images` holds what it returns for each item (and `Batch.sizes` is empty); an item is then
    skipped as a file when it is a path, or a tuple whose first element is one.
    """

    def __init__(
        self,
        resolution: int | None,
        num_workers: int = 0,
        skip_bad_images: bool = False,
        read: Callable | None = None,
    ):
        checks.check_non_negative_int("num_workers", num_workers)
        self.resolution = resolution
        self.skip_bad_images = skip_bad_images
        self._read = functools.partial(read_item, resolution=resolution) if read is None else read
        self._pairs = read is None
        self._pool = (
            ThreadPoolExecutor(num_workers, thread_name_prefix="diffusers-scaled-read") if num_workers else None
        )

    def submit(self, items: list) -> Callable[[], Batch]:
        arguments = (self._read, self.skip_bad_images)
        if self._pool is None:
            return lambda: _collect([guarded_read(item, *arguments) for item in items], self._pairs)
        futures = [self._pool.submit(guarded_read, item, *arguments) for item in items]
        return lambda: _collect([future.result() for future in futures], self._pairs)

    def map(self, batches: Iterator[list]) -> Iterator[tuple[list, Batch]]:
        """`(items, batch)` for each list of items, reading the next list while the caller works on the current one."""
        pending = None
        for items in batches:
            upcoming = (items, self.submit(items))
            if pending is not None:
                yield pending[0], pending[1]()
            pending = upcoming
        if pending is not None:
            yield pending[0], pending[1]()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> BatchLoader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def encode_images(
    codec, images: list[PIL.Image.Image], resolution: int | None, sample_mode: str, generator
) -> list[torch.Tensor]:
    """Latents of `images` as a list of `(1, C, h, w)` tensors (in the codec's scaling and the VAE's dtype).

    With a `resolution` all images have one size and are encoded as one batch; without one each image keeps its size
    (rounded down to a multiple of the VAE's scale factor) and is encoded on its own, in order, with the same generator.
    """
    with torch.no_grad():
        if resolution is not None:
            return list(codec.encode_latents(images, generator=generator, sample_mode=sample_mode).split(1))
        return [codec.encode_latents(image, generator=generator, sample_mode=sample_mode) for image in images]
