"""Argument checks shared by `encode_latents` and `decode_latents`.

Each check raises at the call with a message that names the argument, what was expected and what was given, instead
of letting a wrong tensor fail deep inside a convolution or come out as a grey image.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ._vae import SAMPLE_MODES


OUTPUT_TYPES = ("pil", "np", "pt")


def check_choice(name: str, value, choices: Sequence[str]) -> None:
    if value not in choices:
        raise ValueError(f"`{name}` must be one of {', '.join(repr(c) for c in choices)}; got {value!r}.")


def check_output_type(output_type) -> None:
    check_choice("output_type", output_type, OUTPUT_TYPES)


def check_sample_mode(sample_mode) -> None:
    check_choice("sample_mode", sample_mode, SAMPLE_MODES)


def check_generator(generator, batch_size: int) -> None:
    if generator is None or isinstance(generator, torch.Generator):
        return
    if isinstance(generator, (list, tuple)):
        if len(generator) != batch_size:
            raise ValueError(
                f"`generator` is a list of {len(generator)} generators, but the batch has {batch_size} images; pass one "
                "generator per image or a single generator."
            )
        bad = [type(g).__name__ for g in generator if not isinstance(g, torch.Generator)]
        if bad:
            raise TypeError(
                f"`generator` must hold `torch.Generator` objects only; got {', '.join(sorted(set(bad)))}."
            )
        return
    raise TypeError(
        f"`generator` must be a `torch.Generator`, a list of them (one per image) or None; got {type(generator).__name__}."
    )


def _latent_channels(vae) -> int | None:
    return getattr(vae.config, "latent_channels", None)


def check_latents(latents, vae) -> None:
    """`decode_latents`' input: a non-empty floating-point tensor of shape (batch, latent_channels, height, width)."""
    if not isinstance(latents, torch.Tensor):
        raise TypeError(f"`latents` must be a torch.Tensor; got {type(latents).__name__}.")
    if latents.ndim != 4:
        raise ValueError(
            f"`latents` must have 4 dimensions (batch, channels, height, width); got shape {tuple(latents.shape)}."
        )
    if latents.shape[0] == 0:
        raise ValueError(f"`latents` is an empty batch (shape {tuple(latents.shape)}); pass at least one latent.")
    if not latents.is_floating_point():
        raise TypeError(
            f"`latents` must be a floating-point tensor; got dtype {latents.dtype}. Latents are never integers: "
            "did you pass image pixels?"
        )
    channels = _latent_channels(vae)
    if channels is not None and latents.shape[1] != channels:
        hint = ""
        if latents.shape[1] in (1, 3) and channels not in (1, 3):
            hint = " This looks like an image: to turn images into latents, call `encode_latents`."
        raise ValueError(
            f"`latents` must have {channels} channels (the VAE's `latent_channels`) on dimension 1; got shape "
            f"{tuple(latents.shape)}.{hint}"
        )


def check_image_is_not_latents(image, vae) -> None:
    """`encode_latents`' input must be pixels. `VaeImageProcessor.preprocess` passes a tensor with the VAE's latent
    channel count through unchanged (the img2img pipelines accept latents as `image`); here that is a mistake."""
    channels = _latent_channels(vae)
    first = image[0] if isinstance(image, (list, tuple)) and len(image) > 0 else image
    if isinstance(first, torch.Tensor) and first.ndim >= 3 and channels is not None and channels not in (1, 3):
        channel_dim = 1 if first.ndim == 4 else 0
        if first.shape[channel_dim] == channels:
            raise ValueError(
                f"`image` has {channels} channels, the VAE's `latent_channels`: these look like latents, not pixels. "
                "To turn latents into images, call `decode_latents`."
            )
