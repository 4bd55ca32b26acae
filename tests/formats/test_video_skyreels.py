"""SkyReels-V2 against its stock pipelines' `__call__`: Wan's VAE and Wan's arithmetic (`formats.video.WAN`,
`WAN_I2V`, `WAN_IMAGE`).

- `SkyReelsV2Pipeline`, `SkyReelsV2DiffusionForcingPipeline`: decode `x / (1 / std) + mean`, as Wan.
- `SkyReelsV2ImageToVideoPipeline`: the condition is the image followed by black frames (`num_frames` in all),
  `(z - mean) * (1 / std)` of the posterior mode, concatenated on the channel axis after a 4-channel mask, as Wan 2.1.
- `SkyReelsV2DiffusionForcingImageToVideoPipeline`: the condition is the image alone, one latent frame, written over
  latent frame 0 of the transformer's input.

Non-trivial statistics (the Wan fixture's); float32 on CPU, tiny components, prompt embeddings passed directly: bitwise.
"""

import diffusers
import pytest
import torch
from _compare import assert_same_frames
from _video import first_transformer_input, run_with_first_input, stock_twin
from fixtures import generator, make_pil_images, skyreels_v2_components, video_prompt_embeds

from diffusers_scaled import scaled


if not hasattr(diffusers, "SkyReelsV2Pipeline"):
    pytest.skip(f"SkyReels-V2 is not in diffusers {diffusers.__version__}", allow_module_level=True)


HEIGHT, WIDTH, FRAMES = 16, 32, 5
PIPELINES = [
    "SkyReelsV2Pipeline",
    "SkyReelsV2DiffusionForcingPipeline",
    "SkyReelsV2ImageToVideoPipeline",
    "SkyReelsV2DiffusionForcingImageToVideoPipeline",
]


def make(name):
    try:
        pipeline_class = getattr(diffusers, name)
    except RuntimeError as error:  # diffusers' lazy import failed: the class is not available in this environment
        # (diffusers 0.35's diffusion-forcing modules import `ftfy` unconditionally; the table's walk of the exports
        # leaves such classes out the same way)
        pytest.skip(f"diffusers {diffusers.__version__} cannot import {name} here ({error.__cause__!r})")
    components = skyreels_v2_components(image_to_video=name == "SkyReelsV2ImageToVideoPipeline")
    names = set().union(*pipeline_class._get_signature_keys(pipeline_class))
    pipe = scaled(pipeline_class)(**{key: value for key, value in components.items() if key in names})
    pipe.set_progress_bar_config(disable=True)
    return pipe, stock_twin(pipe, pipeline_class)


def generate(pipe, name, output_type, **inputs):
    inputs = {"height": HEIGHT, "width": WIDTH, "num_frames": FRAMES, "num_inference_steps": 2, **inputs}
    if "DiffusionForcing" in name:  # (their `prompt` has no default)
        inputs = {"prompt": None, "base_num_frames": FRAMES, **inputs}
    embeds = video_prompt_embeds(32)["prompt_embeds"]
    return pipe(
        prompt_embeds=embeds, guidance_scale=1.0, generator=generator(0), output_type=output_type, **inputs
    ).frames


@pytest.mark.parametrize("name", PIPELINES)
def test_decode_equals_stock_frames(name):
    pipe, stock = make(name)
    inputs = {"image": make_pil_images(1, (WIDTH, HEIGHT))[0]} if "ImageToVideo" in name else {}
    latents = generate(stock, name, "latent", **inputs)
    expected = generate(stock, name, "np", **inputs)
    assert latents.shape == (1, 16, 2, HEIGHT // 8, WIDTH // 8)
    with torch.no_grad():
        frames = pipe.decode_latents(latents, output_type="np")
    assert_same_frames(frames, expected, "np")


@pytest.mark.parametrize("name", [n for n in PIPELINES if "ImageToVideo" in n])
def test_i2v_encode_equals_stock_condition(name):
    pipe, stock = make(name)
    image = make_pil_images(1, (WIDTH, HEIGHT), seed=3)[0]
    seen = first_transformer_input(stock, lambda: generate(stock, name, "latent", image=image))
    with torch.no_grad():
        latents = pipe.encode_latents(image, height=HEIGHT, width=WIDTH, num_frames=FRAMES)
    if name == "SkyReelsV2ImageToVideoPipeline":
        # noise latents (16 channels), the frame mask (4), the condition of the image and black frames (16)
        assert latents.shape == (1, 16, 2, HEIGHT // 8, WIDTH // 8)
        assert torch.equal(latents, seen[:, 16 + 4 :])
    else:
        # the image alone, written over latent frame 0
        assert latents.shape == (1, 16, 1, HEIGHT // 8, WIDTH // 8)
        assert torch.equal(latents, seen[:, :, :1])


def test_diffusion_forcing_video_to_video_equals_stock():
    # `SkyReelsV2DiffusionForcingVideoToVideoPipeline` continues a video: the transformer's first input starts with
    # the latents of the video's last `overlap_history` frames, `(z - mean) * (1 / std)` of the posterior mode, and its
    # `.frames` are the given video (preprocessed, not decoded) followed by the decoded latents: `decode_latents`
    # equals the frames after the given video's.
    name = "SkyReelsV2DiffusionForcingVideoToVideoPipeline"
    pipe, stock = make(name)
    video = make_pil_images(FRAMES, (WIDTH, HEIGHT), seed=5)
    inputs = {"video": video, "num_frames": 9, "base_num_frames": 9, "overlap_history": FRAMES}
    latents, seen = run_with_first_input(stock, lambda: generate(stock, name, "latent", **inputs))
    expected = generate(stock, name, "np", **inputs)
    assert latents.shape == (1, 16, 3, HEIGHT // 8, WIDTH // 8)
    with torch.no_grad():
        frames = pipe.decode_latents(latents, output_type="np")
        encoded = pipe.encode_latents(video, height=HEIGHT, width=WIDTH)
    assert expected.shape[1] == FRAMES + frames.shape[1]
    assert_same_frames(frames, expected[:, FRAMES:], "np")
    assert encoded.shape == (1, 16, 2, HEIGHT // 8, WIDTH // 8)
    assert torch.equal(encoded, seen[:, :, :2])
