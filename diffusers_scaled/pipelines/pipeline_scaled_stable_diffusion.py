from diffusers import StableDiffusionPipeline

from ..mixin import ScaledLatentsMixin


class ScaledStableDiffusionPipeline(ScaledLatentsMixin, StableDiffusionPipeline):
    r"""
    [`~diffusers.StableDiffusionPipeline`] with [`~diffusers_scaled.ScaledLatentsMixin.encode_latents`] and
    [`~diffusers_scaled.ScaledLatentsMixin.decode_latents`]. Generation is unchanged: same components, same
    arguments, same outputs as the stock pipeline.
    """
