"""`ScaledLatentsMixin`: `encode_latents` / `decode_latents` for any pipeline with a `vae` and an `image_processor`.

It composes four mixins, one capability each:

| mixin | module | capability |
| --- | --- | --- |
| `VaeCompileMixin` | `_compile` | `enable_vae_compile` / `disable_vae_compile` |
| `LatentsCodecMixin` | `_latents_codec` | `encode_latents`, `decode_latents`, `latent_scaling`, `honour_force_upcast`, through the `latent_format` |
| `SelfDescribingPipelineMixin` | `saving` | `save_pretrained` writes a folder that loads back as the class |
| `RegisteredPipelineMixin` | `_registry` | each subclass records the stock pipeline it extends |
"""

from __future__ import annotations

from ._compile import VaeCompileMixin
from ._latents_codec import LatentsCodecMixin
from ._registry import RegisteredPipelineMixin, stock_pipeline_class
from .formats import format_for
from .saving import SelfDescribingPipelineMixin


__all__ = ["ScaledLatentsMixin"]


class ScaledLatentsMixin(VaeCompileMixin, LatentsCodecMixin, SelfDescribingPipelineMixin, RegisteredPipelineMixin):
    r"""
    Adds `encode_latents` (images -> denoiser latents) and `decode_latents` (denoiser latents -> images) to a
    [`~diffusers.DiffusionPipeline`] that has a `vae` and an `image_processor`.

    Both methods read the latent scaling from `vae.config` (see [`LatentScaling`]) and pre- and post-process with the
    pipeline's own `image_processor`, so their results are exactly those of the pipeline's internal code: what
    `pipe(..., output_type="latent")` returns, `decode_latents` turns into the image `pipe(..., output_type="pil")`
    returns; what `encode_latents` returns is what the img2img pipelines add noise to.

    Mix it in before the pipeline class:

    ```py
    >>> from diffusers import StableDiffusionPipeline
    >>> from diffusers_scaled import ScaledLatentsMixin


    >>> class MyPipeline(ScaledLatentsMixin, StableDiffusionPipeline):
    ...     pass
    ```

    Class attributes:
        honour_force_upcast (`bool`):
            Whether a float16 VAE whose config sets `force_upcast` computes in float32; by default the stock
            pipeline's rule (`True` for the SDXL family). See `LatentsCodecMixin`.
        latent_format (`LatentFormat`):
            The pipeline family's latent format (`diffusers_scaled.formats`): set at class creation from the explicit
            family table for the stock pipeline the class extends, which raises a `TypeError` naming the covered
            families when no proven format covers it. A subclass of a pipeline the table does not know (a community
            pipeline) sets it itself, e.g. `latent_format = diffusers_scaled.formats.image.STABLE_DIFFUSION`.
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        stock = stock_pipeline_class(cls)
        if cls.latent_format is None and stock is not None:
            # The explicit family table, at class creation: an unproven pipeline is refused here with its reason,
            # never by an error inside `encode_latents` / `decode_latents`.
            cls.latent_format = format_for(stock)
