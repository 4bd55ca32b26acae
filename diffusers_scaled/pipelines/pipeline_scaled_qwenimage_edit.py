from diffusers import QwenImageEditPipeline

from ..packed import PackedLatentsMixin


class ScaledQwenImageEditPipeline(PackedLatentsMixin, QwenImageEditPipeline):
    r"""
    [`~diffusers.QwenImageEditPipeline`] with [`~diffusers_scaled.PackedLatentsMixin.encode_latents`] and
    [`~diffusers_scaled.PackedLatentsMixin.decode_latents`]. Generation is unchanged: same components, same
    arguments, same outputs as the stock pipeline.

    Latent format: Qwen-Image edit (`diffusers_scaled.formats.image.QWEN_IMAGE_EDIT`): `encode_latents` returns the
    condition latents as the pipeline computes them (posterior mode, `(z - mean) / std`).
    """
