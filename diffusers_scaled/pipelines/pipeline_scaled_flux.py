from diffusers import FluxPipeline

from ..packed import PackedLatentsMixin


class ScaledFluxPipeline(PackedLatentsMixin, FluxPipeline):
    r"""
    [`~diffusers.FluxPipeline`] with [`~diffusers_scaled.PackedLatentsMixin.encode_latents`] and
    [`~diffusers_scaled.PackedLatentsMixin.decode_latents`]. Generation is unchanged: same components, same
    arguments, same outputs as the stock pipeline.

    Its latents are packed into 2x2 patches: `decode_latents` takes the packed latents `output_type="latent"`
    returns (with the call's `height` and `width`) or unpacked ones, and `encode_latents(..., packed=True)` returns
    packed latents.
    """
