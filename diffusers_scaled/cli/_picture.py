"""The comparison picture of `roundtrip`, drawn with PIL only: original | reconstruction | difference, the latent
channels, and histograms of the latent values before and after scaling."""

from __future__ import annotations

import numpy as np
import PIL.Image
import PIL.ImageDraw
import PIL.ImageFont


BACKGROUND = (255, 255, 255)
INK = (20, 20, 20)
PANEL = 256  # width of one image panel
LABEL = 16  # height of a caption line
DIFF_GAIN = 4


def _font():
    return PIL.ImageFont.load_default()


def _to_image(array: np.ndarray) -> PIL.Image.Image:
    """(H, W, 3) float in [0, 1] -> PIL."""
    return PIL.Image.fromarray((np.clip(array, 0, 1) * 255).round().astype(np.uint8))


def _fit_width(image: PIL.Image.Image, width: int, resample=PIL.Image.BICUBIC) -> PIL.Image.Image:
    height = max(1, round(image.height * width / image.width))
    return image.resize((width, height), resample)


def _histogram(values: np.ndarray, size: tuple[int, int], title: str, color) -> PIL.Image.Image:
    width, height = size
    canvas = PIL.Image.new("RGB", size, BACKGROUND)
    draw = PIL.ImageDraw.Draw(canvas)
    font = _font()
    low, high = float(values.min()), float(values.max())
    if high == low:
        high = low + 1e-6
    counts, edges = np.histogram(values, bins=64, range=(low, high))
    top, bottom, left, right = LABEL + 4, height - LABEL - 4, 6, width - 6
    draw.text((left, 2), title, fill=INK, font=font)
    peak = counts.max() or 1
    bar = (right - left) / len(counts)
    for i, count in enumerate(counts):
        x0 = left + i * bar
        y0 = bottom - (bottom - top) * count / peak
        draw.rectangle([x0, y0, x0 + max(bar - 1, 1), bottom], fill=color)
    draw.line([left, bottom, right, bottom], fill=INK)
    if low < 0 < high:  # mark zero
        x = left + (right - left) * (-low) / (high - low)
        draw.line([x, top, x, bottom], fill=(200, 0, 0))
    draw.text((left, bottom + 2), f"{low:.3g}", fill=INK, font=font)
    text = f"{high:.3g}"
    draw.text((right - draw.textlength(text, font=font), bottom + 2), text, fill=INK, font=font)
    return canvas


def comparison_picture(
    original: np.ndarray,
    reconstruction: np.ndarray,
    raw_latents: np.ndarray,
    scaled_latents: np.ndarray,
    scaling_text: str,
    psnr: float,
) -> PIL.Image.Image:
    """
    Args:
        original, reconstruction: `(H, W, 3)` float arrays in [0, 1].
        raw_latents, scaled_latents: `(C, h, w)` arrays: the VAE's latents and the denoiser's.
        scaling_text: a description of the scaling applied, for the histogram caption.
        psnr: the reconstruction's PSNR in dB.
    """
    font = _font()
    difference = np.abs(original - reconstruction) * DIFF_GAIN
    panels = [
        (_fit_width(_to_image(original), PANEL), "original"),
        (_fit_width(_to_image(reconstruction), PANEL), f"reconstruction (PSNR {psnr:.2f} dB)"),
        (_fit_width(_to_image(difference), PANEL), f"|difference| x{DIFF_GAIN}"),
    ]
    width = PANEL * 3
    row1 = max(p.height for p, _ in panels) + LABEL

    channels = raw_latents.shape[0]
    tile = width // max(channels, 1)
    tiles = []
    for c in range(channels):
        z = raw_latents[c]
        z = (z - z.min()) / (z.max() - z.min() + 1e-12)
        gray = PIL.Image.fromarray((z * 255).round().astype(np.uint8)).convert("RGB")
        tiles.append(_fit_width(gray, tile, PIL.Image.NEAREST))
    row2 = (max(t.height for t in tiles) if tiles else 0) + LABEL

    hist_size = (width // 2, 150)
    raw_values, scaled_values = raw_latents.ravel(), scaled_latents.ravel()
    histograms = [
        _histogram(
            raw_values,
            hist_size,
            f"raw latents: mean {raw_values.mean():.3f} std {raw_values.std():.3f}",
            (90, 90, 160),
        ),
        _histogram(
            scaled_values,
            hist_size,
            f"scaled: mean {scaled_values.mean():.3f} std {scaled_values.std():.3f}",
            (60, 140, 60),
        ),
    ]
    row3 = hist_size[1] + LABEL

    canvas = PIL.Image.new("RGB", (width, row1 + row2 + row3), BACKGROUND)
    draw = PIL.ImageDraw.Draw(canvas)
    for i, (panel, caption) in enumerate(panels):
        canvas.paste(panel, (i * PANEL, LABEL))
        draw.text((i * PANEL + 4, 2), caption, fill=INK, font=font)
    draw.text((4, row1 + 2), f"latent channels ({channels}, each min-max normalised)", fill=INK, font=font)
    for c, t in enumerate(tiles):
        canvas.paste(t, (c * tile, row1 + LABEL))
    draw.text((4, row1 + row2 + 2), f"latent values before / after scaling: {scaling_text}", fill=INK, font=font)
    for i, h in enumerate(histograms):
        canvas.paste(h, (i * hist_size[0], row1 + row2 + LABEL))
    return canvas
