"""`PackedLatentsMixin`: `encode_latents` / `decode_latents` for pipelines whose denoiser works on packed latents.

The Flux pipelines hand their transformer latents packed into 2x2 patches, `(batch, (h // 2) * (w // 2), channels * 4)`,
and return that form with `output_type="latent"`. The packing is a pure re-layout: the scaling applies to the unpacked
`(batch, channels, h, w)` latents the VAE works with. This mixin adds the layout change around the generic methods,
with the pipeline's own `_pack_latents` / `_unpack_latents` static methods.
"""

from __future__ import annotations

import inspect

import torch
from diffusers.image_processor import PipelineImageInput

from .mixin import ScaledLatentsMixin


__all__ = ["PackedLatentsMixin"]


# The signatures of FluxPipeline's static methods; a pipeline whose methods have them packs latents the Flux way.
_PACK_PARAMETERS = ("latents", "batch_size", "num_channels_latents", "height", "width")
_UNPACK_PARAMETERS = ("latents", "height", "width", "vae_scale_factor")


def packs_latents_like_flux(pipeline_class: type) -> bool:
    """Whether `pipeline_class` has Flux's `_pack_latents` / `_unpack_latents` static methods (same signatures)."""

    def parameters(name):
        method = inspect.getattr_static(pipeline_class, name, None)
        if not isinstance(method, staticmethod):
            return None
        return tuple(inspect.signature(method.__func__).parameters)

    return parameters("_pack_latents") == _PACK_PARAMETERS and parameters("_unpack_latents") == _UNPACK_PARAMETERS


def check_packed_latents_size(
    latents: torch.Tensor,
    height: int,
    width: int,
    vae_scale_factor: int,
    latent_channels: int | None = None,
    patch_size: int = 2,
) -> None:
    """
    Latents, packed into `patch_size` x `patch_size` patches (Flux: `(batch, patches, channels * 4)`) or unpacked
    (`(batch, channels, h, w)`), that fit an image of `height` x `width` pixels.

    The sizes are Flux's `_unpack_latents` rule: the latent grid is `patch_size * (height // (vae_scale_factor *
    patch_size))` high, and as wide by the same rule.
    """
    for name, value in (("height", height), ("width", width), ("vae_scale_factor", vae_scale_factor)):
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(f"`{name}` must be a positive int; got {value!r}.")
    if not isinstance(latents, torch.Tensor):
        raise TypeError(f"`latents` must be a torch.Tensor; got {type(latents).__name__}.")
    step = vae_scale_factor * patch_size
    grid_height, grid_width = height // step, width // step
    if grid_height == 0 or grid_width == 0:
        raise ValueError(
            f"`height` and `width` must be at least {step} pixels (the VAE's scale factor {vae_scale_factor} times "
            f"the patch size {patch_size}); got height={height}, width={width}."
        )
    if latents.ndim == 3:
        channels = latents.shape[2] // (patch_size * patch_size) if latent_channels is None else latent_channels
        expected = (latents.shape[0], grid_height * grid_width, channels * patch_size * patch_size)
        layout = f"packed latents ({patch_size}x{patch_size} patches of {channels} latent channels)"
    elif latents.ndim == 4:
        channels = latents.shape[1] if latent_channels is None else latent_channels
        expected = (latents.shape[0], channels, grid_height * patch_size, grid_width * patch_size)
        layout = "unpacked latents"
    else:
        raise ValueError(
            "`latents` must be packed (batch, patches, channels) or unpacked (batch, channels, height, width); got "
            f"shape {tuple(latents.shape)}."
        )
    if tuple(latents.shape) != expected:
        raise ValueError(
            f"`latents` of shape {tuple(latents.shape)} do not fit height={height}, width={width}: {layout} for an image "
            f"of height {height} and width {width} must have shape (batch, {', '.join(map(str, expected[1:]))}), here {expected}. "
            "Pass the `height` and `width` given to the pipeline call."
        )


class PackedLatentsMixin(ScaledLatentsMixin):
    r"""
    [`ScaledLatentsMixin`] for pipelines that pack latents into 2x2 patches (the Flux family): `decode_latents`
    also accepts the packed latents the pipeline returns with `output_type="latent"`, and `encode_latents` can return
    packed latents.

    The pipeline must have Flux's `_pack_latents(latents, batch_size, num_channels_latents, height, width)` and
    `_unpack_latents(latents, height, width, vae_scale_factor)` static methods and a `vae_scale_factor` attribute.

    ```py
    >>> from diffusers import FluxPipeline
    >>> from diffusers_scaled import PackedLatentsMixin


    >>> class MyFluxPipeline(PackedLatentsMixin, FluxPipeline):
    ...     pass
    ```
    """

    def encode_latents(
        self,
        image: PipelineImageInput,
        generator: torch.Generator | list[torch.Generator] | None = None,
        sample_mode: str = "sample",
        height: int | None = None,
        width: int | None = None,
        dtype: torch.dtype | None = None,
        packed: bool = False,
    ) -> torch.Tensor:
        r"""
        Encodes images into scaled latents, unpacked or packed (see [`ScaledLatentsMixin.encode_latents`]).

        Args:
            packed (`bool`, *optional*, defaults to `False`):
                Whether to return the latents packed into 2x2 patches, `(batch, (h // 2) * (w // 2), channels * 4)`,
                the form the pipeline's transformer works on, instead of `(batch, channels, h, w)`. The image is
                resized to a multiple of twice the VAE's scale factor, so `h` and `w` are even.
            image, generator, sample_mode, height, width, dtype:
                As in [`ScaledLatentsMixin.encode_latents`].

        Returns:
            `torch.Tensor`: the latents, packed if `packed` is `True`.
        """
        if not isinstance(packed, bool):
            raise TypeError(f"`packed` must be a bool, got {type(packed).__name__}.")
        latents = super().encode_latents(
            image, generator=generator, sample_mode=sample_mode, height=height, width=width, dtype=dtype
        )
        if not packed:
            return latents
        batch_size, channels, latent_height, latent_width = latents.shape
        return self._pack_latents(latents, batch_size, channels, latent_height, latent_width)

    def decode_latents(
        self,
        latents: torch.Tensor,
        output_type: str = "np",
        generator: torch.Generator | None = None,
        return_dict: bool = False,
        height: int | None = None,
        width: int | None = None,
    ):
        r"""
        Decodes scaled latents, packed or unpacked, into images (see [`ScaledLatentsMixin.decode_latents`]).

        Args:
            latents (`torch.Tensor`):
                Packed latents `(batch, patches, channels * 4)`, as `pipe(..., output_type="latent").images` returns
                them, or unpacked latents `(batch, channels, h, w)`.
            height (`int`, *optional*):
                Height in pixels of the image the packed latents stand for, the `height` given to the pipeline call.
                Required for packed latents, unused for unpacked ones.
            width (`int`, *optional*):
                Width in pixels, as `height`.
            output_type, generator, return_dict:
                As in [`ScaledLatentsMixin.decode_latents`].

        Examples:

        ```py
        >>> from diffusers_scaled import ScaledFluxPipeline

        >>> pipe = ScaledFluxPipeline.from_pretrained("black-forest-labs/FLUX.1-schnell")
        >>> latents = pipe("a cat", height=512, width=512, output_type="latent").images
        >>> image = pipe.decode_latents(latents, height=512, width=512, output_type="pil")[0]
        ```
        """
        if isinstance(latents, torch.Tensor) and latents.ndim == 3:
            check_packed_latents_size(
                latents, height, width, self.vae_scale_factor, getattr(self.vae.config, "latent_channels", None)
            )
            latents = self._unpack_latents(latents, height, width, self.vae_scale_factor)
        return super().decode_latents(latents, output_type=output_type, generator=generator, return_dict=return_dict)
