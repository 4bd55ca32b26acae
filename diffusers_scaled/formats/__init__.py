"""Latent formats: every latent space this package serves, one `LatentFormat` each, and which diffusers pipeline uses
which (`format_for`)."""

from ._base import LatentFormat
from ._layouts import Layout
from ._table import covered_families, format_for, formats_for_vae, proving_test


__all__ = ["LatentFormat", "Layout", "covered_families", "format_for", "formats_for_vae", "proving_test"]
