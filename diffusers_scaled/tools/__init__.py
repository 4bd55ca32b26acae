"""Tools around the latent scaling: calibrate a VAE, cache a dataset's latents, preview latents without the VAE."""

from ._loading import default_vae_path, load_vae, sample_image_path
from .cache import encode_to_cache, load_cache
from .calibrate import CalibrationResult, calibrate
from .preview import LatentPreview, preview_latents


__all__ = [
    "CalibrationResult",
    "LatentPreview",
    "calibrate",
    "default_vae_path",
    "encode_to_cache",
    "load_cache",
    "load_vae",
    "preview_latents",
    "sample_image_path",
]
