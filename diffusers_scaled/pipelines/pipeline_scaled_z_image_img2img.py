from diffusers import ZImageImg2ImgPipeline

from ..mixin import ScaledLatentsMixin


class ScaledZImageImg2ImgPipeline(ScaledLatentsMixin, ZImageImg2ImgPipeline):
    r"""
    [`~diffusers.ZImageImg2ImgPipeline`] with [`~diffusers_scaled.ScaledLatentsMixin.encode_latents`] and
    [`~diffusers_scaled.ScaledLatentsMixin.decode_latents`]. Generation is unchanged: same components, same
    arguments, same outputs as the stock pipeline.

    Latent format: Z-Image (`diffusers_scaled.formats.image.Z_IMAGE`): `encode_latents` returns the latents the
    pipeline adds noise to.
    """
