"""Tools around the latent scaling: calibrate a VAE, cache a dataset's latents, preview latents without the VAE.

This subpackage is not imported by `import diffusers_scaled`; `cli/` uses only the names below.
"""

from ._assets import DEFAULT_VAE_NAME, default_vae_path, load_vae, sample_image_path
from ._data import read_image
from ._distributed import is_main_process
from .cache import encode_to_cache, finished_shards, load_cache
from .calibrate import CalibrationResult, calibrate
from .preview import CALIBRATION_FILE, LatentPreview, preview_latents


__all__ = [
    "CALIBRATION_FILE",
    "CalibrationResult",
    "DEFAULT_VAE_NAME",
    "LatentPreview",
    "calibrate",
    "default_vae_path",
    "encode_to_cache",
    "finished_shards",
    "is_main_process",
    "load_cache",
    "load_vae",
    "preview_latents",
    "read_image",
    "sample_image_path",
]
