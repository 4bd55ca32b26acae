"""Draws docs/images/bucket_distribution.png: how a sample dataset spreads over SDXL's buckets.

The sample dataset is generated (no download): 2,000 image sizes whose aspect ratios follow a mix of the common photo
formats (1:1, 4:3, 3:2, 16:9 in both orientations) with log-normal jitter, and whose areas are log-uniform between
0.3 and 12 megapixels. Each size goes to its nearest bucket with `diffusers_scaled.tools.buckets.nearest_bucket`, as
`diffusers-scaled encode --buckets sdxl` assigns images. Run: `python scripts/bucket_distribution.py`.
"""

from __future__ import annotations

import math
import os
from collections import Counter

import numpy as np
import PIL.Image
import PIL.ImageDraw

from diffusers_scaled.tools.buckets import nearest_bucket, sdxl_buckets


def sample_sizes(n: int = 2000, seed: int = 0) -> list[tuple[int, int]]:
    """`n` (height, width) pairs of a generated photo collection."""
    rng = np.random.default_rng(seed)
    formats = np.log([1.0, 4 / 3, 3 / 2, 16 / 9, 3 / 4, 2 / 3, 9 / 16])
    weights = np.array([0.2, 0.2, 0.25, 0.1, 0.12, 0.1, 0.03])
    log_ratio = rng.choice(formats, size=n, p=weights / weights.sum()) + rng.normal(0, 0.06, n)  # width / height
    area = np.exp(rng.uniform(np.log(0.3e6), np.log(12e6), n))
    heights = np.sqrt(area / np.exp(log_ratio))
    return [(max(1, round(h)), max(1, round(h * math.exp(r)))) for h, r in zip(heights, log_ratio)]


def draw(counts: Counter, buckets: list, path: str) -> None:
    used = [b for b in buckets if counts[b]]
    row, label_width, bar_width, margin = 22, 170, 420, 12
    image = PIL.Image.new(
        "RGB", (label_width + bar_width + 2 * margin + 50, margin * 3 + row * (len(used) + 1)), "white"
    )
    ink = PIL.ImageDraw.Draw(image)
    total = sum(counts.values())
    ink.text(
        (margin, margin),
        f"{total} generated images over SDXL's buckets: height x width (width / height)",
        fill="black",
    )
    top = margin * 2 + row
    largest = max(counts.values())
    for i, bucket in enumerate(used):
        y = top + i * row
        h, w = bucket
        ink.text((margin, y + 5), f"{h:>4} x {w:<4}  ({w / h:.2f})", fill="black")
        # the bucket's shape, to scale, then the bar
        scale = 16 / max(bucket)
        ink.rectangle((label_width - 26, y + 2, label_width - 26 + w * scale, y + 2 + h * scale), outline="gray")
        length = bar_width * counts[bucket] / largest
        ink.rectangle((label_width, y + 3, label_width + length, y + row - 3), fill=(70, 110, 180))
        ink.text((label_width + length + 6, y + 5), str(counts[bucket]), fill="black")
    image.save(path, optimize=True)


def main() -> None:
    buckets = sdxl_buckets()
    counts = Counter(nearest_bucket(size, buckets) for size in sample_sizes())
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    path = os.path.join(root, "docs", "images", "bucket_distribution.png")
    draw(counts, buckets, path)
    print(f"wrote {path}: {len([b for b in buckets if counts[b]])} of {len(buckets)} buckets used")


if __name__ == "__main__":
    main()
