from diffusers import LTXPipeline

from ..mixin import ScaledLatentsMixin


class ScaledLTXPipeline(ScaledLatentsMixin, LTXPipeline):
    r"""
    [`~diffusers.LTXPipeline`] with [`~diffusers_scaled.ScaledLatentsMixin.encode_latents`] and
    [`~diffusers_scaled.ScaledLatentsMixin.decode_latents`]. Generation is unchanged: same components, same
    arguments, same outputs as the stock pipeline.
    """
