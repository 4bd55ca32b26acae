"""The video latent formats: one `LatentFormat` per video pipeline family, each checked against its stock pipelines by
the test named in `VIDEO_PROVEN`."""

from __future__ import annotations

from ._base import LatentFormat


# pipeline class name -> (format, the test that proves it); `_table.py` merges this into its `PROVEN`.
VIDEO_PROVEN: dict[str, tuple[LatentFormat, str]] = {}
