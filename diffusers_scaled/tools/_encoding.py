"""One batch of source items -> raw latents, through the library's own `encode_latents` (via `VaeCodec`)."""

from __future__ import annotations

import torch

from . import _data


def batch_generator(seed: int, first_index: int) -> torch.Generator:
    """The generator of the batch that starts at item `first_index`: the same whichever process encodes it."""
    return torch.Generator().manual_seed(seed * 1_000_003 + first_index)


def encode_items(
    codec, items: list, resolution: int | None, sample_mode: str, generator
) -> tuple[list[torch.Tensor], list[tuple[int, int]]]:
    """Latents of `items` as a list of `(1, C, h, w)` tensors (in the codec's scaling and the VAE's dtype), and the
    images' original `(width, height)`.

    With a `resolution` all images have one size and are encoded as one batch; without one each image keeps its size
    (rounded down to a multiple of the VAE's scale factor) and is encoded on its own, in order, with the same generator.
    """
    originals = [_data.to_pil(item) for item in items]
    sizes = [image.size for image in originals]
    images = [_data.fit(image, resolution) for image in originals]
    with torch.no_grad():
        if resolution is not None:
            latents = list(codec.encode_latents(images, generator=generator, sample_mode=sample_mode).split(1))
        else:
            latents = [codec.encode_latents(image, generator=generator, sample_mode=sample_mode) for image in images]
    return latents, sizes
