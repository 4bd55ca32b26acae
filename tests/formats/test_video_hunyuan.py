"""HunyuanVideo 1.5 (`formats.video.HUNYUAN_VIDEO_15`) against the stock `HunyuanVideo15Pipeline` and
`HunyuanVideo15ImageToVideoPipeline` `__call__` (HunyuanVideo 1 text-to-video: tests/formats/test_video_families.py).

`scaling_factor` only (0.8 in the fixture): decode `latents / f`; the image-to-video condition is the image, sized
from its aspect ratio and `transformer.config.target_size` and centre-cropped, encoded as one frame (the posterior's
mode) times `f`, on latent frame 0 of the condition channels (zeros after it). Float32 on CPU, tiny components,
prompt embeddings passed directly: bitwise.
"""

import diffusers
import pytest
import torch
from _compare import assert_same_frames
from _video import first_transformer_input, stock_twin
from fixtures import generator, hunyuan_video15_components, hunyuan_video15_prompt_embeds, make_pil_images

from diffusers_scaled import scaled


if not hasattr(diffusers, "HunyuanVideo15Pipeline"):
    pytest.skip(f"HunyuanVideo15Pipeline is not in diffusers {diffusers.__version__}", allow_module_level=True)

from diffusers import HunyuanVideo15ImageToVideoPipeline, HunyuanVideo15Pipeline  # noqa: E402


FRAMES = 5  # 2 latent frames
IMAGE_SIZE = (56, 24)  # (width, height): the pipeline picks the 32x16 bucket and centre-crops the image to it


def make(pipeline_class):
    components = hunyuan_video15_components(image_to_video=pipeline_class is HunyuanVideo15ImageToVideoPipeline)
    pipe = scaled(pipeline_class)(**components)
    pipe.set_progress_bar_config(disable=True)
    return pipe, stock_twin(pipe, pipeline_class)


def generate(pipe, output_type, **inputs):
    if "image" not in inputs:
        inputs = {"height": 16, "width": 32, **inputs}
    inputs = {"num_frames": FRAMES, "num_inference_steps": 2, **hunyuan_video15_prompt_embeds(), **inputs}
    return pipe(generator=generator(0), output_type=output_type, **inputs).frames


@pytest.mark.parametrize(
    "pipeline_class", [HunyuanVideo15Pipeline, HunyuanVideo15ImageToVideoPipeline], ids=["t2v", "i2v"]
)
def test_decode_equals_stock_frames(pipeline_class):
    pipe, stock = make(pipeline_class)
    inputs = (
        {"image": make_pil_images(1, IMAGE_SIZE)[0]} if pipeline_class is HunyuanVideo15ImageToVideoPipeline else {}
    )
    latents = generate(stock, "latent", **inputs)
    expected = generate(stock, "np", **inputs)
    assert latents.shape == (1, 4, 2, 1, 2)
    with torch.no_grad():
        frames = pipe.decode_latents(latents, output_type="np")
    assert_same_frames(frames, expected, "np")


def test_i2v_encode_equals_stock_condition():
    pipe, stock = make(HunyuanVideo15ImageToVideoPipeline)
    image = make_pil_images(1, IMAGE_SIZE, seed=3)[0]
    seen = first_transformer_input(stock, lambda: generate(stock, "latent", image=image))
    # The transformer's input: latents (4 channels), condition latents (4: the image on frame 0, zeros after), mask.
    condition = seen[:, 4:8, :1]
    assert not seen[:, 4:8, 1:].any()
    with torch.no_grad():
        latents = pipe.encode_latents(image)  # sized and cropped as the pipeline does
        resized = pipe.encode_latents(image, height=16, width=32)
    assert latents.shape == (1, 4, 1, 1, 2)
    assert torch.equal(latents, condition)
    assert torch.equal(resized, condition)
    with pytest.raises(ValueError, match="`height` and `width` go together"):
        pipe.encode_latents(image, height=16)
