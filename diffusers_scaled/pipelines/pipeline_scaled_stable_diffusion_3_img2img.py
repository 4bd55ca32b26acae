from diffusers import StableDiffusion3Img2ImgPipeline

from ..mixin import ScaledLatentsMixin


class ScaledStableDiffusion3Img2ImgPipeline(ScaledLatentsMixin, StableDiffusion3Img2ImgPipeline):
    r"""
    [`~diffusers.StableDiffusion3Img2ImgPipeline`] with [`~diffusers_scaled.ScaledLatentsMixin.encode_latents`] and
    [`~diffusers_scaled.ScaledLatentsMixin.decode_latents`]. Generation is unchanged: same components, same
    arguments, same outputs as the stock pipeline.
    """
