from diffusers import StableDiffusionXLInpaintPipeline

from ..mixin import ScaledLatentsMixin


class ScaledStableDiffusionXLInpaintPipeline(ScaledLatentsMixin, StableDiffusionXLInpaintPipeline):
    r"""
    [`~diffusers.StableDiffusionXLInpaintPipeline`] with [`~diffusers_scaled.ScaledLatentsMixin.encode_latents`] and
    [`~diffusers_scaled.ScaledLatentsMixin.decode_latents`]. Generation is unchanged: same components, same
    arguments, same outputs as the stock pipeline.
    """
