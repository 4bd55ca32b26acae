"""Sana-Video (`formats.video.SANA_VIDEO`) against the stock `SanaVideoPipeline` / `SanaImageToVideoPipeline`
`__call__`.

With Wan's VAE (the released checkpoints'), the pipelines decode `x / (1 / std) + mean` with the VAE config's
statistics (non-trivial in the fixture), and the image-to-video condition is the image alone, `(z - mean) * (1 / std)`
of its posterior mode, written over latent frame 0 of the transformer's input. Resolution binning is off: its bins
(480p, 720p) are too large for CPU tests. Float32 on CPU, tiny components, prompt embeddings passed directly: bitwise.
"""

import diffusers
import pytest
import torch
from _compare import assert_same_frames
from _video import run_with_first_input, stock_twin
from fixtures import generator, make_pil_images, sana_video_components, tiny_vae_kl

from diffusers_scaled import scaled


if not hasattr(diffusers, "SanaVideoPipeline"):
    pytest.skip(f"Sana-Video is not in diffusers {diffusers.__version__}", allow_module_level=True)


HEIGHT, WIDTH, FRAMES = 32, 64, 5  # 2 latent frames of 4 x 8


def generate(pipe, output_type, **inputs):
    g = torch.Generator().manual_seed(1)
    embeds = {"prompt_embeds": torch.randn(1, 8, 16, generator=g), "prompt_attention_mask": torch.ones(1, 8).long()}
    return pipe(
        **embeds,
        height=HEIGHT,
        width=WIDTH,
        frames=FRAMES,
        num_inference_steps=2,
        guidance_scale=1.0,
        use_resolution_binning=False,
        generator=generator(0),
        output_type=output_type,
        **inputs,
    ).frames


@pytest.fixture(scope="module")
def components():
    return sana_video_components()


@pytest.mark.parametrize("name", ["SanaVideoPipeline", "SanaImageToVideoPipeline"])
def test_decode_and_encode_equal_stock(components, name):
    pipeline_class = getattr(diffusers, name)
    pipe = scaled(pipeline_class)(**components)
    stock = stock_twin(pipe, pipeline_class)
    image = make_pil_images(1, (WIDTH, HEIGHT), seed=3)[0]
    inputs = {"image": image} if name == "SanaImageToVideoPipeline" else {}
    latents, seen = run_with_first_input(stock, lambda: generate(stock, "latent", **inputs))
    expected = generate(stock, "np", **inputs)
    assert latents.shape == (1, 16, 2, HEIGHT // 8, WIDTH // 8)
    with torch.no_grad():
        frames = pipe.decode_latents(latents, output_type="np", height=HEIGHT, width=WIDTH)
    assert_same_frames(frames, expected, "np")
    if inputs:
        with torch.no_grad():
            latents = pipe.encode_latents(image, height=HEIGHT, width=WIDTH)
        assert latents.shape == (1, 16, 1, HEIGHT // 8, WIDTH // 8)
        assert torch.equal(latents, seen[:, :, :1])


def test_other_vaes_are_refused(components):
    pipe = scaled(diffusers.SanaVideoPipeline)(**{**components, "vae": tiny_vae_kl()})
    with pytest.raises(ValueError, match="AutoencoderKLWan"):
        pipe.decode_latents(torch.zeros(1, 4, 2, 4, 8))
