from diffusers import FluxImg2ImgPipeline

from ..packed import PackedLatentsMixin


class ScaledFluxImg2ImgPipeline(PackedLatentsMixin, FluxImg2ImgPipeline):
    r"""
    [`~diffusers.FluxImg2ImgPipeline`] with `encode_latents` and `decode_latents`, packed or unpacked as in
    [`ScaledFluxPipeline`]. Generation is unchanged: same components, arguments and outputs as the stock pipeline.
    """
