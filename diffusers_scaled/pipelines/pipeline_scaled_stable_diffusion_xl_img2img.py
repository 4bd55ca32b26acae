from diffusers import StableDiffusionXLImg2ImgPipeline

from ..mixin import ScaledLatentsMixin


class ScaledStableDiffusionXLImg2ImgPipeline(ScaledLatentsMixin, StableDiffusionXLImg2ImgPipeline):
    r"""
    [`~diffusers.StableDiffusionXLImg2ImgPipeline`] with [`~diffusers_scaled.ScaledLatentsMixin.encode_latents`] and
    [`~diffusers_scaled.ScaledLatentsMixin.decode_latents`]. Generation is unchanged: same components, same
    arguments, same outputs as the stock pipeline.
    """
