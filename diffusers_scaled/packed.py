"""`PackedLatentsMixin`: the name the Flux-family scaled classes carry (kept for code that checks for it).

Packing is now part of each pipeline's latent format (`diffusers_scaled.formats`): `ScaledLatentsMixin` itself
takes packed latents in `decode_latents(latents, height=..., width=...)` and returns them from
`encode_latents(..., packed=True)` for every family whose denoiser works on packed latents.
"""

from __future__ import annotations

from .mixin import ScaledLatentsMixin


__all__ = ["PackedLatentsMixin"]


class PackedLatentsMixin(ScaledLatentsMixin):
    r"""
    [`ScaledLatentsMixin`] for pipelines that pack latents into patches (Flux.1, Flux.2, Qwen-Image): `decode_latents`
    also accepts the packed latents the pipeline returns with `output_type="latent"` (with the call's `height` and
    `width`), and `encode_latents(..., packed=True)` returns packed latents. The packing is the pipeline family's
    latent format's (`latent_format.layout`), done with the pipeline's own static methods.

    ```py
    >>> from diffusers import FluxPipeline
    >>> from diffusers_scaled import PackedLatentsMixin


    >>> class MyFluxPipeline(PackedLatentsMixin, FluxPipeline):
    ...     pass
    ```
    """
