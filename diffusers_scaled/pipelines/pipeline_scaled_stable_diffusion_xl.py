from diffusers import StableDiffusionXLPipeline

from ..mixin import ScaledLatentsMixin


class ScaledStableDiffusionXLPipeline(ScaledLatentsMixin, StableDiffusionXLPipeline):
    r"""
    [`~diffusers.StableDiffusionXLPipeline`] with [`~diffusers_scaled.ScaledLatentsMixin.encode_latents`] and
    [`~diffusers_scaled.ScaledLatentsMixin.decode_latents`]. Generation is unchanged: same components, same
    arguments, same outputs as the stock pipeline.
    """
