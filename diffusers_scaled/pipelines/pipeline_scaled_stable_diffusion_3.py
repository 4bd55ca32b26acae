from diffusers import StableDiffusion3Pipeline

from ..mixin import ScaledLatentsMixin


class ScaledStableDiffusion3Pipeline(ScaledLatentsMixin, StableDiffusion3Pipeline):
    r"""
    [`~diffusers.StableDiffusion3Pipeline`] with [`~diffusers_scaled.ScaledLatentsMixin.encode_latents`] and
    [`~diffusers_scaled.ScaledLatentsMixin.decode_latents`]. Generation is unchanged: same components, same
    arguments, same outputs as the stock pipeline.
    """
