from diffusers import StableDiffusionImg2ImgPipeline

from ..mixin import ScaledLatentsMixin


class ScaledStableDiffusionImg2ImgPipeline(ScaledLatentsMixin, StableDiffusionImg2ImgPipeline):
    r"""
    [`~diffusers.StableDiffusionImg2ImgPipeline`] with [`~diffusers_scaled.ScaledLatentsMixin.encode_latents`] and
    [`~diffusers_scaled.ScaledLatentsMixin.decode_latents`]. Generation is unchanged: same components, same
    arguments, same outputs as the stock pipeline.
    """
