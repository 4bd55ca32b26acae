from diffusers import WanImageToVideoPipeline

from ..mixin import ScaledLatentsMixin


class ScaledWanImageToVideoPipeline(ScaledLatentsMixin, WanImageToVideoPipeline):
    r"""
    [`~diffusers.WanImageToVideoPipeline`] with [`~diffusers_scaled.ScaledLatentsMixin.encode_latents`] and
    [`~diffusers_scaled.ScaledLatentsMixin.decode_latents`]. Generation is unchanged: same components, same
    arguments, same outputs as the stock pipeline.
    """
