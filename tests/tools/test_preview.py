import numpy as np
import PIL.Image
import pytest
import torch
from fixtures import make_pil_images, tiny_vae_kl

from diffusers_scaled import LatentScaling
from diffusers_scaled.tools import LatentPreview, calibrate, preview_latents
from diffusers_scaled.tools.preview import PreviewFit


def test_fitted_map_is_the_least_squares_solution():
    torch.manual_seed(0)
    latents = torch.randn(3, 4, 5, 6, dtype=torch.float64)
    decoded = torch.rand(3, 3, 10, 12)
    fit = PreviewFit(4)
    fit.add(PreviewFit.batch_terms(latents[:2], decoded[:2]))
    fit.add(PreviewFit.batch_terms(latents[2:], decoded[2:]))
    weight, bias = fit.solve()

    # Reference: lstsq on all rows at once, target = the decoded image average-pooled to the latent grid.
    x = latents.permute(0, 2, 3, 1).reshape(-1, 4)
    x = torch.cat([x, torch.ones(x.shape[0], 1, dtype=torch.float64)], dim=1)
    y = torch.nn.functional.avg_pool2d(decoded, 2).to(torch.float64).permute(0, 2, 3, 1).reshape(-1, 3)
    reference = torch.linalg.lstsq(x, y).solution
    # normal equations vs QR: float64 rounding only
    torch.testing.assert_close(torch.tensor(weight, dtype=torch.float64), reference[:4].T, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(torch.tensor(bias, dtype=torch.float64), reference[4], rtol=1e-9, atol=1e-12)


def test_preview_applies_the_map_to_unscaled_latents():
    scaling = LatentScaling(0.5, shift_factor=0.1)
    preview = LatentPreview(
        weight=((1.0, 0, 0, 0), (0, 2.0, 0, 0), (0, 0, 0, -1.0)), bias=(0.5, 0.0, 0.2), scaling=scaling
    )
    raw = torch.rand(2, 4, 3, 5) * 0.2
    scaled = scaling.scale(raw)
    out = preview_latents(scaled, preview, output_type="pt")
    expected = torch.stack([raw[:, 0] + 0.5, 2 * raw[:, 1], 0.2 - raw[:, 3]], dim=1).clamp(0, 1)
    torch.testing.assert_close(out, expected)  # unscale(scale(x)) is x up to float32 rounding
    images = preview_latents(scaled, preview)
    assert len(images) == 2 and isinstance(images[0], PIL.Image.Image) and images[0].size == (5, 3)
    assert preview_latents(scaled, preview, output_type="np").shape == (2, 3, 5, 3)


def test_calibration_stores_a_usable_preview(tmp_path):
    vae = tiny_vae_kl()
    result = calibrate(vae, make_pil_images(4, seed=1), batch_size=2, resolution=16, progress=False)
    result.write_to_vae(vae, tmp_path)
    preview = LatentPreview.from_pretrained(tmp_path)
    assert preview.scaling == LatentScaling(result.scaling_factor)
    assert preview.to_dict() == result.preview
    image = preview_latents(torch.zeros(1, 4, 2, 2), preview, output_type="np")
    assert np.isfinite(image).all()


def test_bad_input():
    preview = LatentPreview(weight=((1.0, 0.0),) * 3, bias=(0.0, 0.0, 0.0), scaling=LatentScaling(1.0))
    with pytest.raises(ValueError, match="fitted for 2"):
        preview_latents(torch.zeros(1, 4, 2, 2), preview)
    with pytest.raises(ValueError, match="`latents`"):
        preview_latents(torch.zeros(4, 2, 2), preview)
    with pytest.raises(ValueError, match="`output_type`"):
        preview_latents(torch.zeros(1, 2, 2, 2), preview, output_type="latent")
    with pytest.raises(FileNotFoundError, match="calibrate"):
        LatentPreview.from_pretrained("/nonexistent")
