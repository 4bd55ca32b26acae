"""CogVideoX image-to-video and CogVideoX 1.5 (`formats.video.COGVIDEOX`, `COGVIDEOX_I2V`) against the stock
pipelines' `__call__` (CogVideoX 1.0 text-to-video and video-to-video: tests/formats/test_video_families.py).

- Image-to-video: the condition is the image encoded as one frame, sampled with the call's generator (each image on
  its own), frames before channels, times `f` (`1 / f` where the VAE config sets `invert_scale_latents`, as CogVideoX
  1.5's image-to-video VAE does: the 1.5 fixture sets it); the transformer sees it concatenated on the channel axis.
- CogVideoX 1.5 (`transformer.config.patch_size_t` set): the latent frames are padded at the front to a multiple of
  `patch_size_t`; `output_type="latent"` returns them padded, and decoding drops the padding, given the call's
  `num_frames`.

Non-trivial statistics (`scaling_factor=0.7`); float32 on CPU, tiny components, prompt embeddings passed directly:
bitwise.
"""

import pytest
import torch
from _compare import assert_same_frames
from _video import first_transformer_input, run_with_first_input, stock_twin
from diffusers import CogVideoXImageToVideoPipeline, CogVideoXPipeline
from fixtures import cogvideox_components, generator, make_pil_images, video_prompt_embeds

from diffusers_scaled import scaled


HEIGHT, WIDTH = 16, 32  # not square, so that a height/width mix-up fails
FRAMES = {"1.0": 5, "1.5": 9}  # 2 latent frames; 3, which CogVideoX 1.5 pads to 4 (`patch_size_t=2`)


def make(pipeline_class, version):
    components = cogvideox_components(image_to_video=pipeline_class is CogVideoXImageToVideoPipeline, version=version)
    pipe = scaled(pipeline_class)(**components)
    pipe.set_progress_bar_config(disable=True)
    return pipe, stock_twin(pipe, pipeline_class)


def generate(pipe, output_type, seed=0, **inputs):
    embeds = video_prompt_embeds(32, length=16)["prompt_embeds"]
    inputs = {"height": HEIGHT, "width": WIDTH, "num_inference_steps": 2, **inputs}
    if "control_video" not in inputs:  # the control pipeline takes its frame count from the control video
        inputs.setdefault("num_frames", FRAMES["1.5" if pipe.transformer.config.patch_size_t else "1.0"])
    return pipe(prompt_embeds=embeds, guidance_scale=1.0, generator=generator(seed), output_type=output_type, **inputs)


@pytest.mark.parametrize(
    "pipeline_class, version",
    [(CogVideoXImageToVideoPipeline, "1.0"), (CogVideoXPipeline, "1.5"), (CogVideoXImageToVideoPipeline, "1.5")],
    ids=["i2v-1.0", "t2v-1.5", "i2v-1.5"],
)
def test_decode_equals_stock_frames(pipeline_class, version):
    pipe, stock = make(pipeline_class, version)
    inputs = (
        {"image": make_pil_images(1, (WIDTH, HEIGHT))[0]} if pipeline_class is CogVideoXImageToVideoPipeline else {}
    )
    latents = generate(stock, "latent", **inputs).frames
    expected = generate(stock, "np", **inputs).frames
    latent_frames, padding = (3, 1) if version == "1.5" else (2, 0)
    assert latents.shape == (1, latent_frames + padding, 4, HEIGHT // 8, WIDTH // 8)  # (batch, frames, channels, h, w)
    with torch.no_grad():
        frames = pipe.decode_latents(latents, output_type="np", num_frames=FRAMES[version])
        assert_same_frames(frames, expected, "np")
        if padding:  # dropped by hand (the stock `latents[:, additional_frames:]`): the same, without num_frames
            assert_same_frames(pipe.decode_latents(latents[:, padding:], output_type="np"), expected, "np")


def test_cogvideox15_padded_latents_need_num_frames():
    pipe, stock = make(CogVideoXPipeline, "1.5")
    latents = torch.zeros(1, 4, 4, HEIGHT // 8, WIDTH // 8)  # 4 frames: padded or not, only num_frames tells
    with pytest.raises(ValueError, match="num_frames"):
        pipe.decode_latents(latents)
    with pytest.raises(ValueError, match="num_frames=17"):
        pipe.decode_latents(latents, num_frames=17)  # 5 latent frames (6 padded), not 4


@pytest.mark.parametrize("version", ["1.0", "1.5"])
def test_i2v_encode_equals_stock_condition(version):
    pipe, stock = make(CogVideoXImageToVideoPipeline, version)
    assert pipe.vae.config.invert_scale_latents == (version == "1.5")
    image = make_pil_images(1, (WIDTH, HEIGHT), seed=3)[0]
    seen = first_transformer_input(stock, lambda: generate(stock, "latent", seed=4, image=image))
    # The transformer's input: (batch, frames, noise channels + condition channels, h, w); the condition is the
    # image's latents on the first frame (zeros after it).
    condition = seen[:, :1, 4:]
    with torch.no_grad():
        packed = pipe.encode_latents(image, generator=generator(4), height=HEIGHT, width=WIDTH, packed=True)
        unpacked = pipe.encode_latents(image, generator=generator(4), height=HEIGHT, width=WIDTH)
    assert packed.shape == (1, 1, 4, HEIGHT // 8, WIDTH // 8)
    assert torch.equal(packed, condition)
    assert torch.equal(unpacked, packed.permute(0, 2, 1, 3, 4))


def test_fun_control_equals_stock():
    # `CogVideoXFunControlPipeline`: its `__call__` decodes with its own `self.decode_latents(latents)` (the scaled
    # class leaves that call to the stock method: generation stays bitwise), and its control video is encoded video by
    # video, `f * z` of the posterior mode, frames before channels, concatenated on the transformer input's channels.
    from diffusers import CogVideoXFunControlPipeline

    components = cogvideox_components(image_to_video=True)  # 4 + 4 channels in
    names = set().union(*CogVideoXFunControlPipeline._get_signature_keys(CogVideoXFunControlPipeline))
    pipe = scaled(CogVideoXFunControlPipeline)(**{k: v for k, v in components.items() if k in names})
    pipe.set_progress_bar_config(disable=True)
    stock = stock_twin(pipe, CogVideoXFunControlPipeline)
    control = make_pil_images(FRAMES["1.0"], (WIDTH, HEIGHT), seed=6)
    inputs = {"control_video": [control]}
    latents, seen = run_with_first_input(stock, lambda: generate(stock, "latent", **inputs).frames)
    expected = generate(stock, "np", **inputs).frames
    assert latents.shape == (1, 2, 4, HEIGHT // 8, WIDTH // 8)
    with torch.no_grad():
        frames = pipe.decode_latents(latents, output_type="np")
        packed = pipe.encode_latents(control, height=HEIGHT, width=WIDTH, packed=True)
    assert_same_frames(frames, expected, "np")
    assert_same_frames(generate(pipe, "np", **inputs).frames, expected, "np")
    assert torch.equal(packed, seen[:, :, 4:])
