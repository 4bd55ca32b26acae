from diffusers import LTXImageToVideoPipeline

from ..mixin import ScaledLatentsMixin


class ScaledLTXImageToVideoPipeline(ScaledLatentsMixin, LTXImageToVideoPipeline):
    r"""
    [`~diffusers.LTXImageToVideoPipeline`] with [`~diffusers_scaled.ScaledLatentsMixin.encode_latents`] and
    [`~diffusers_scaled.ScaledLatentsMixin.decode_latents`]. Generation is unchanged: same components, same
    arguments, same outputs as the stock pipeline.
    """
