from diffusers import ZImagePipeline

from ..mixin import ScaledLatentsMixin


class ScaledZImagePipeline(ScaledLatentsMixin, ZImagePipeline):
    r"""
    [`~diffusers.ZImagePipeline`] with [`~diffusers_scaled.ScaledLatentsMixin.encode_latents`] and
    [`~diffusers_scaled.ScaledLatentsMixin.decode_latents`]. Generation is unchanged: same components, same
    arguments, same outputs as the stock pipeline.

    Latent format: Z-Image (`diffusers_scaled.formats.image.Z_IMAGE`): `(z - shift) * f`, 4-D latents.
    """
