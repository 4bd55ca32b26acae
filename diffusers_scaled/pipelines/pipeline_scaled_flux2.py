from diffusers import Flux2Pipeline

from ..packed import PackedLatentsMixin


class ScaledFlux2Pipeline(PackedLatentsMixin, Flux2Pipeline):
    r"""
    [`~diffusers.Flux2Pipeline`] with [`~diffusers_scaled.PackedLatentsMixin.encode_latents`] and
    [`~diffusers_scaled.PackedLatentsMixin.decode_latents`]. Generation is unchanged: same components, same
    arguments, same outputs as the stock pipeline.

    Latent format: Flux.2 (`diffusers_scaled.formats.image.FLUX_2`): statistics from the VAE's BatchNorm running
    statistics, latents patchified 2x2 and packed; `encode_latents` returns the reference-image latents the pipeline
    computes (one image at a time, posterior mode), patchified, or packed with `packed=True`.
    """
