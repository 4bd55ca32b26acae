"""Tools around the latent scaling: calibrate a VAE, cache a dataset's latents (and read them for training), preview
latents without the VAE.

This subpackage is not imported by `import diffusers_scaled`; `cli/` uses only the names below.
"""

from ._assets import DEFAULT_VAE_NAME, default_vae_path, load_vae, sample_image_path
from ._data import read_image
from ._distributed import is_main_process
from .buckets import generate_buckets, sdxl_buckets
from .cache import encode_to_cache, finished_shards, load_cache
from .calibrate import CalibrationResult, calibrate
from .hf_datasets import cache_to_dataset
from .preview import CALIBRATION_FILE, LatentPreview, preview_latents
from .ray_cache import encode_to_cache_ray
from .training import BucketBatchSampler, LatentCacheDataset, collate_latents, sample_from_distribution
from .verify import VerifyReport, verify_cache


__all__ = [
    "BucketBatchSampler",
    "CALIBRATION_FILE",
    "CalibrationResult",
    "DEFAULT_VAE_NAME",
    "LatentCacheDataset",
    "LatentPreview",
    "VerifyReport",
    "cache_to_dataset",
    "calibrate",
    "collate_latents",
    "default_vae_path",
    "encode_to_cache",
    "encode_to_cache_ray",
    "finished_shards",
    "generate_buckets",
    "is_main_process",
    "load_cache",
    "load_vae",
    "preview_latents",
    "read_image",
    "sample_from_distribution",
    "sample_image_path",
    "sdxl_buckets",
    "verify_cache",
]
