from diffusers import StableDiffusionInpaintPipeline

from ..mixin import ScaledLatentsMixin


class ScaledStableDiffusionInpaintPipeline(ScaledLatentsMixin, StableDiffusionInpaintPipeline):
    r"""
    [`~diffusers.StableDiffusionInpaintPipeline`] with [`~diffusers_scaled.ScaledLatentsMixin.encode_latents`] and
    [`~diffusers_scaled.ScaledLatentsMixin.decode_latents`]. Generation is unchanged: same components, same
    arguments, same outputs as the stock pipeline.
    """
