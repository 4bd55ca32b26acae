"""Tools around the latent scaling: calibrate a VAE, cache a dataset's latents (and read them for training),
preview latents without the VAE."""

from ._loading import default_vae_path, load_vae, sample_image_path
from .buckets import generate_buckets, sdxl_buckets
from .cache import encode_to_cache, load_cache
from .calibrate import CalibrationResult, calibrate
from .hf_datasets import cache_to_dataset
from .preview import LatentPreview, preview_latents
from .training import BucketBatchSampler, LatentCacheDataset, collate_latents, sample_from_distribution
from .verify import VerifyReport, verify_cache


__all__ = [
    "BucketBatchSampler",
    "CalibrationResult",
    "LatentCacheDataset",
    "LatentPreview",
    "VerifyReport",
    "cache_to_dataset",
    "calibrate",
    "collate_latents",
    "default_vae_path",
    "encode_to_cache",
    "generate_buckets",
    "load_cache",
    "load_vae",
    "preview_latents",
    "sample_from_distribution",
    "sample_image_path",
    "sdxl_buckets",
    "verify_cache",
]
