"""`ScaledX.from_single_file(checkpoint, config=folder)` loads what the stock class's `from_single_file` loads.

The checkpoint is a tiny pipeline's weights in the original single-file layout (`fixtures.ldm_checkpoint`); the config
folder is the same pipeline saved by `save_pretrained` (the hub, where diffusers would fetch configs, is out of reach).
"""

import numpy as np
import pytest
import torch
from diffusers import (
    StableDiffusionImg2ImgPipeline,
    StableDiffusionInpaintPipeline,
    StableDiffusionPipeline,
    StableDiffusionXLImg2ImgPipeline,
    StableDiffusionXLInpaintPipeline,
    StableDiffusionXLPipeline,
)
from diffusers.loaders.single_file_utils import (
    convert_ldm_clip_checkpoint,
    convert_ldm_unet_checkpoint,
    convert_ldm_vae_checkpoint,
    convert_open_clip_checkpoint,
)
from fixtures import (
    PROMPT,
    generator,
    ldm_checkpoint,
    make_mask,
    make_pil_images,
    sd_components,
    sd_inpaint_components,
    sdxl_components,
)
from safetensors.torch import save_file

from diffusers_scaled import (
    ScaledStableDiffusionImg2ImgPipeline,
    ScaledStableDiffusionInpaintPipeline,
    ScaledStableDiffusionPipeline,
    ScaledStableDiffusionXLImg2ImgPipeline,
    ScaledStableDiffusionXLInpaintPipeline,
    ScaledStableDiffusionXLPipeline,
)


# scaled class, stock class, components, which checkpoint, extra inputs
CASES = {
    "sd": (ScaledStableDiffusionPipeline, StableDiffusionPipeline, "sd", {}),
    "sd-img2img": (ScaledStableDiffusionImg2ImgPipeline, StableDiffusionImg2ImgPipeline, "sd", {"image"}),
    "sd-inpaint": (
        ScaledStableDiffusionInpaintPipeline,
        StableDiffusionInpaintPipeline,
        "sd-inpaint",
        {"image", "mask"},
    ),
    "sdxl": (ScaledStableDiffusionXLPipeline, StableDiffusionXLPipeline, "sdxl", {}),
    "sdxl-img2img": (ScaledStableDiffusionXLImg2ImgPipeline, StableDiffusionXLImg2ImgPipeline, "sdxl", {"image"}),
    "sdxl-inpaint": (
        ScaledStableDiffusionXLInpaintPipeline,
        StableDiffusionXLInpaintPipeline,
        "sdxl",
        {"image", "mask"},
    ),
}
MODELS = {
    "sd": (StableDiffusionPipeline, ScaledStableDiffusionPipeline, sd_components),
    "sd-inpaint": (StableDiffusionInpaintPipeline, ScaledStableDiffusionInpaintPipeline, sd_inpaint_components),
    "sdxl": (
        StableDiffusionXLPipeline,
        ScaledStableDiffusionXLPipeline,
        lambda: sdxl_components(text_encoder_2_hidden_size=48),
    ),
}


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """Per model: the components, a single-file checkpoint, a config folder saved by the stock class and one saved by
    the scaled class (custom-pipeline form)."""
    root = tmp_path_factory.mktemp("single-file")
    found = {}
    for name, (stock_class, scaled_class, factory) in MODELS.items():
        components = factory()
        path = root / f"{name}.safetensors"
        save_file(ldm_checkpoint(components), str(path))
        stock_class(**components).save_pretrained(root / f"{name}-stock")
        scaled_class(**components).save_pretrained(root / f"{name}-scaled")
        found[name] = (components, str(path), str(root / f"{name}-stock"), str(root / f"{name}-scaled"))
    return found


@pytest.mark.parametrize("model", MODELS)
def test_fixture_checkpoint_is_what_diffusers_converters_read(model):
    # The test checkpoint is only as good as its layout: diffusers' own converters must map it back exactly.
    components = MODELS[model][2]()
    checkpoint = ldm_checkpoint(components)
    converted = {
        "unet": convert_ldm_unet_checkpoint(checkpoint, components["unet"].config),
        "vae": convert_ldm_vae_checkpoint(checkpoint, components["vae"].config),
        "text_encoder": convert_ldm_clip_checkpoint(checkpoint),
    }
    if "text_encoder_2" in components:
        converted["text_encoder_2"] = convert_open_clip_checkpoint(
            components["text_encoder_2"], checkpoint, prefix="conditioner.embedders.1.model."
        )
    for name, state in converted.items():
        expected = components[name].state_dict()
        if name == "text_encoder":
            state = {k if k in expected else k.removeprefix("text_model."): v for k, v in state.items()}
        assert state.keys() == expected.keys(), name
        assert all(torch.equal(state[k], expected[k]) for k in expected), name


def _config(config):
    config = config.to_dict() if hasattr(config, "to_dict") else dict(config)
    return {k: v for k, v in config.items() if k not in ("_name_or_path", "_use_default_values")}


def inputs(extra):
    kwargs = {"prompt": PROMPT, "num_inference_steps": 2, "height": 32, "width": 32, "output_type": "np"}
    if "image" in extra:
        kwargs.update(image=make_pil_images(1, (32, 32))[0], strength=0.75)
    if "mask" in extra:
        kwargs["mask_image"] = make_mask((32, 32))
    return kwargs


# Every class with a config folder saved by the stock class; one class per model with a folder saved by the scaled
# class, in the custom-pipeline form (its module file is not run: the scaled class loads the folder as itself).
SINGLE_FILE_CASES = [(name, "stock") for name in CASES] + [(name, "scaled") for name in ("sd", "sd-inpaint", "sdxl")]


@pytest.mark.parametrize("name, config_form", SINGLE_FILE_CASES)
def test_from_single_file_equals_stock(name, config_form, checkpoints):
    scaled_class, stock_class, model, extra = CASES[name]
    components, path, stock_config, scaled_config = checkpoints[model]
    config = stock_config if config_form == "stock" else scaled_config

    stock = stock_class.from_single_file(path, config=stock_config)
    scaled = scaled_class.from_single_file(path, config=config)

    assert type(scaled) is scaled_class
    for component_name, component in components.items():
        loaded = scaled.components.get(component_name)
        if isinstance(component, torch.nn.Module):
            expected, state = component.state_dict(), loaded.state_dict()
            assert state.keys() == expected.keys(), component_name
            assert all(torch.equal(state[k], expected[k]) for k in expected), component_name
            stock_config = stock.components[component_name].config
            assert _config(loaded.config) == _config(stock_config), component_name
    for pipe in (stock, scaled):
        pipe.set_progress_bar_config(disable=True)
    expected = stock(**inputs(extra), generator=generator(0)).images
    assert np.array_equal(scaled(**inputs(extra), generator=generator(0)).images, expected)
