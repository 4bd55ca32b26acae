from diffusers import QwenImageImg2ImgPipeline

from ..packed import PackedLatentsMixin


class ScaledQwenImageImg2ImgPipeline(PackedLatentsMixin, QwenImageImg2ImgPipeline):
    r"""
    [`~diffusers.QwenImageImg2ImgPipeline`] with [`~diffusers_scaled.PackedLatentsMixin.encode_latents`] and
    [`~diffusers_scaled.PackedLatentsMixin.decode_latents`]. Generation is unchanged: same components, same
    arguments, same outputs as the stock pipeline.

    Latent format: Qwen-Image (`diffusers_scaled.formats.image.QWEN_IMAGE`): `encode_latents` returns the 5-D
    `(batch, channels, 1, h, w)` latents the pipeline adds noise to, packed with `packed=True`.
    """
