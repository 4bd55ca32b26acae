from diffusers import WanPipeline

from ..mixin import ScaledLatentsMixin


class ScaledWanPipeline(ScaledLatentsMixin, WanPipeline):
    r"""
    [`~diffusers.WanPipeline`] with [`~diffusers_scaled.ScaledLatentsMixin.encode_latents`] and
    [`~diffusers_scaled.ScaledLatentsMixin.decode_latents`]. Generation is unchanged: same components, same
    arguments, same outputs as the stock pipeline.
    """
