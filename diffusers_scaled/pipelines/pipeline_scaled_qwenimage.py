from diffusers import QwenImagePipeline

from ..packed import PackedLatentsMixin


class ScaledQwenImagePipeline(PackedLatentsMixin, QwenImagePipeline):
    r"""
    [`~diffusers.QwenImagePipeline`] with [`~diffusers_scaled.PackedLatentsMixin.encode_latents`] and
    [`~diffusers_scaled.PackedLatentsMixin.decode_latents`]. Generation is unchanged: same components, same
    arguments, same outputs as the stock pipeline.

    Latent format: Qwen-Image (`diffusers_scaled.formats.image.QWEN_IMAGE`): packed 2x2; `decode_latents` takes the
    packed latents `output_type="latent"` returns (with the call's `height` and `width`) or the VAE's 5-D form.
    """
