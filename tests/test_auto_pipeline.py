"""Task switching (`AutoScaledPipelineFor*`) against diffusers' own AutoPipeline on the stock classes.

For each image family with ready classes, a scaled text-to-image pipeline goes text-to-image -> image-to-image ->
inpainting -> text-to-image; a stock one takes the same trip through diffusers' `AutoPipelineFor*.from_pipe`. At each
step the scaled pipeline must extend the class diffusers picked, be the package's ready class where there is one, share
the components, and generate bitwise what the stock pipeline generates (same components, inputs and generator: the same
operations in the same order on CPU in float32). Where diffusers has no pipeline of a task for the family, both raise.
The video families (Wan, LTX) have no image task in diffusers' tables: their switches are clear errors
(`test_every_ready_family_switches_as_diffusers_does`, `test_video_family_error_names_its_pipelines`).
"""

import inspect
import json
import re

import diffusers
import numpy as np
import pytest
from diffusers import (
    AutoPipelineForImage2Image,
    AutoPipelineForInpainting,
    AutoPipelineForText2Image,
    FluxPipeline,
    StableDiffusion3Pipeline,
    StableDiffusionPipeline,
    StableDiffusionXLPipeline,
)
from diffusers.pipelines import auto_pipeline
from fixtures import (
    PROMPT,
    flux2_components,
    flux2_prompt_embeds,
    flux_components,
    flux_prompt_embeds,
    generator,
    make_mask,
    make_pil_images,
    qwenimage_components,
    qwenimage_prompt_embeds,
    sd3_components,
    sd_components,
    sdxl_components,
    z_image_components,
    z_image_prompt_embeds,
)

from diffusers_scaled import (
    AutoScaledPipeline,
    AutoScaledPipelineForImage2Image,
    AutoScaledPipelineForInpainting,
    AutoScaledPipelineForText2Image,
    ScaledFluxImg2ImgPipeline,
    ScaledFluxPipeline,
    ScaledLatentsMixin,
    ScaledStableDiffusion3Img2ImgPipeline,
    ScaledStableDiffusion3Pipeline,
    ScaledStableDiffusionImg2ImgPipeline,
    ScaledStableDiffusionInpaintPipeline,
    ScaledStableDiffusionPipeline,
    ScaledStableDiffusionXLImg2ImgPipeline,
    ScaledStableDiffusionXLInpaintPipeline,
    ScaledStableDiffusionXLPipeline,
    get_scaled_pipeline_class,
    get_stock_pipeline_class,
    pipelines,
    scaled,
)
from diffusers_scaled.auto_pipeline import task_class
from diffusers_scaled.formats._table import PROVEN


SIZE = 32
TRIP = [
    (AutoScaledPipelineForImage2Image, AutoPipelineForImage2Image),
    (AutoScaledPipelineForInpainting, AutoPipelineForInpainting),
    (AutoScaledPipelineForText2Image, AutoPipelineForText2Image),
]
TABLE = {
    AutoScaledPipelineForText2Image: "AUTO_TEXT2IMAGE_PIPELINES_MAPPING",
    AutoScaledPipelineForImage2Image: "AUTO_IMAGE2IMAGE_PIPELINES_MAPPING",
    AutoScaledPipelineForInpainting: "AUTO_INPAINT_PIPELINES_MAPPING",
}

# Where diffusers' AutoPipeline has no pipeline of the task for the family (stock raises a ValueError too).
NO_TASK = "no task"

# family: (stock text-to-image class or its name, components, prompt inputs, the ready class names along the trip;
# None: no ready class and no proven latent format, so no scaled class; NO_TASK: no pipeline of the task)
FAMILIES = {
    "sd": (
        StableDiffusionPipeline,
        sd_components,
        lambda: {"prompt": PROMPT},
        [ScaledStableDiffusionImg2ImgPipeline, ScaledStableDiffusionInpaintPipeline, ScaledStableDiffusionPipeline],
    ),
    "sdxl": (
        StableDiffusionXLPipeline,
        sdxl_components,
        lambda: {"prompt": PROMPT},
        [
            ScaledStableDiffusionXLImg2ImgPipeline,
            ScaledStableDiffusionXLInpaintPipeline,
            ScaledStableDiffusionXLPipeline,
        ],
    ),
    "sd3": (
        StableDiffusion3Pipeline,
        lambda: sd3_components(latent_channels=16),
        lambda: {"prompt": PROMPT},
        [ScaledStableDiffusion3Img2ImgPipeline, None, ScaledStableDiffusion3Pipeline],
    ),
    "flux": (
        FluxPipeline,
        flux_components,
        flux_prompt_embeds,
        [ScaledFluxImg2ImgPipeline, None, ScaledFluxPipeline],
    ),
    # the families added later; their classes are newer than the oldest diffusers this package supports
    "qwenimage": (
        "QwenImagePipeline",
        qwenimage_components,
        qwenimage_prompt_embeds,
        ["ScaledQwenImageImg2ImgPipeline", None, "ScaledQwenImagePipeline"],
    ),
    "z-image": (
        "ZImagePipeline",
        z_image_components,
        lambda: {**z_image_prompt_embeds(), "guidance_scale": 0.0},  # no negative embeddings without text encoder
        ["ScaledZImageImg2ImgPipeline", None, "ScaledZImagePipeline"],
    ),
    "flux2": (
        # one class for both tasks (`image` are reference images), and no inpainting
        "Flux2Pipeline",
        flux2_components,
        flux2_prompt_embeds,
        ["ScaledFlux2Pipeline", NO_TASK, "ScaledFlux2Pipeline"],
    ),
}
SIZES = {"flux2": 64}  # Flux.2 refuses reference images under 64 pixels


def generate(pipe, prompt_inputs, seed=0, size=SIZE):
    inputs = {
        **prompt_inputs,
        "image": make_pil_images(1, (size, size))[0],
        "mask_image": make_mask((size, size)),
        "strength": 0.75,
        "num_inference_steps": 2,
        "height": size,
        "width": size,
        "output_type": "np",
        "generator": generator(seed),
    }
    accepted = inspect.signature(pipe.__call__).parameters
    pipe.set_progress_bar_config(disable=True)
    return pipe(**{k: v for k, v in inputs.items() if k in accepted}).images


def without_empty_name(config):
    return {k: v for k, v in config.items() if not (k == "_name_or_path" and v is None)}


def modules(pipe):
    return {name: c for name, c in pipe.components.items() if c is not None}


@pytest.mark.parametrize("family", list(FAMILIES))
def test_round_trip_keeps_scaled_class_shares_components_and_generates_like_stock(family):
    stock_class, components, prompt_inputs, ready = FAMILIES[family]
    if isinstance(stock_class, str):
        if not hasattr(diffusers, stock_class):
            pytest.skip(f"{stock_class} is not in diffusers {diffusers.__version__}")
        stock_class = getattr(diffusers, stock_class)
    parts = components()
    stock = stock_class(**parts)
    pipe = get_scaled_pipeline_class(stock_class)(**parts)
    if auto_pipeline._get_model(stock_class.__name__) is None:
        # an older diffusers whose AutoPipeline tables do not list the family yet: both refuse every switch
        for ours, theirs in TRIP:
            with pytest.raises(ValueError, match="AutoPipeline can't find"):
                theirs.from_pipe(stock)
            with pytest.raises(ValueError, match=f"AutoPipeline tables do not list {stock_class.__name__}"):
                ours.from_pipe(pipe)
        return
    ready = [getattr(pipelines, c) if isinstance(c, str) and c != NO_TASK else c for c in ready]
    for (ours, theirs), expected in zip(TRIP, ready):
        if expected is NO_TASK:
            with pytest.raises(ValueError):
                theirs.from_pipe(stock)
            with pytest.raises(ValueError, match="has no inpainting pipeline for the"):
                ours.from_pipe(pipe)
            continue
        stock = theirs.from_pipe(stock)
        if expected is None and type(stock).__name__ not in PROVEN:
            # no ready class, and `scaled()` refuses a pipeline whose latent format no test proves (SD3
            # inpainting): the switch says so rather than return a class that might not be exact
            with pytest.raises(TypeError, match="has no proven latent format"):
                ours.from_pipe(pipe)
            continue
        switched = ours.from_pipe(pipe)
        assert isinstance(switched, ScaledLatentsMixin)
        assert get_stock_pipeline_class(type(switched)) is type(stock)
        if expected is not None:
            assert type(switched) is expected
        # every module the new pipeline holds is the previous pipeline's object, as for diffusers' from_pipe
        shared = modules(switched)
        assert shared and all(shared[name] is c for name, c in modules(pipe).items() if name in shared)
        assert set(shared) == set(modules(stock))
        # diffusers' AutoPipeline records `_name_or_path: None` where the pipeline was not loaded from a path;
        # `from_pipe` leaves it out. Every other entry is the same.
        assert without_empty_name(switched.config) == without_empty_name(stock.config)
        size = SIZES.get(family, SIZE)
        np.testing.assert_array_equal(
            generate(switched, prompt_inputs(), size=size), generate(stock, prompt_inputs(), size=size)
        )
        pipe = switched


def test_stock_pipeline_switches_to_scaled_class():
    stock = StableDiffusionXLPipeline(**sdxl_components())
    img2img = AutoScaledPipelineForImage2Image.from_pipe(stock)
    assert type(img2img) is ScaledStableDiffusionXLImg2ImgPipeline
    assert img2img.unet is stock.unet and img2img.vae is stock.vae
    # the same task keeps the family's class: text-to-image of a stock pipeline is its scaled counterpart
    assert type(AutoScaledPipelineForText2Image.from_pipe(stock)) is ScaledStableDiffusionXLPipeline


def test_replaced_component_is_used():
    pipe = ScaledStableDiffusionPipeline(**sd_components())
    other_vae = sd_components()["vae"]
    img2img = AutoScaledPipelineForImage2Image.from_pipe(pipe, vae=other_vae)
    assert img2img.vae is other_vae and img2img.unet is pipe.unet


class OwnText2ImagePipeline(ScaledLatentsMixin, StableDiffusionPipeline):
    """A user's own scaled class: switching to its own task keeps it."""


def test_user_class_keeps_itself_for_its_task():
    pipe = OwnText2ImagePipeline(**sd_components())
    assert type(AutoScaledPipelineForText2Image.from_pipe(pipe)) is OwnText2ImagePipeline
    assert type(AutoScaledPipelineForImage2Image.from_pipe(pipe)) is ScaledStableDiffusionImg2ImgPipeline


def ready_classes():
    # those whose stock pipeline the installed diffusers has (Flux.2 and Z-Image are newer than the oldest supported)
    return [
        pipelines.ready_class_named(name)
        for name, (_, stock_name) in pipelines.READY_CLASSES.items()
        if hasattr(diffusers, stock_name)
    ]


@pytest.mark.parametrize("task", list(TABLE))
def test_every_ready_family_switches_as_diffusers_does(task):
    # Covers the families that gain ready classes later without a change here. The oracle is diffusers' own lookup
    # (`_get_task_class`, by class name) on the stock classes.
    table = getattr(auto_pipeline, TABLE[task])
    checked = 0
    for ready in ready_classes():
        stock = get_stock_pipeline_class(ready)
        target = auto_pipeline._get_task_class(table, stock.__name__, throw_error_if_not_exist=False)
        if target is None:
            if auto_pipeline._get_model(stock.__name__) is not None:
                with pytest.raises(ValueError, match="has no .* pipeline for the"):
                    task_class(ready, TABLE[task])
            continue
        ready_target = [c for c in ready_classes() if get_stock_pipeline_class(c) is target]
        if not ready_target and target is not stock:
            try:
                made = scaled(target)
            except TypeError as error:  # no proven latent format: the switch raises what `scaled()` raises
                with pytest.raises(TypeError, match=re.escape(str(error)[:60])):
                    task_class(ready, TABLE[task])
                continue
            assert task_class(ready, TABLE[task]) is made
            checked += 1
            continue
        switched = task_class(ready, TABLE[task])
        assert get_stock_pipeline_class(switched) is target
        assert switched is (ready if target is stock else ready_target[0] if ready_target else switched)
        checked += 1
    assert checked >= 4  # at least SD, SDXL, SD3, Flux


def test_errors_name_the_argument():
    with pytest.raises(TypeError, match="`pipeline` must be a DiffusionPipeline"):
        AutoScaledPipelineForImage2Image.from_pipe(object())
    pipe = ScaledStableDiffusionPipeline(**sd_components())
    with pytest.raises(TypeError, match="`enable_pag` is not accepted"):
        AutoScaledPipelineForImage2Image.from_pipe(pipe, enable_pag=True)
    with pytest.raises(EnvironmentError, match="from_pretrained"):
        AutoScaledPipelineForInpainting()


@pytest.mark.parametrize("name", ["ScaledLTXPipeline", "ScaledWanPipeline"])
def test_video_family_error_names_its_pipelines(name):
    # diffusers' AutoPipeline has no image task for the video families; where its tables list the family under video
    # tasks (newer diffusers), the error names those pipelines, so that the user can pick one with `from_pipe`.
    stock_name = pipelines.READY_CLASSES[name][1]
    if not hasattr(diffusers, stock_name):
        pytest.skip(f"{stock_name} is not in diffusers {diffusers.__version__}")
    ready = pipelines.ready_class_named(name)
    family = auto_pipeline._get_model(get_stock_pipeline_class(ready).__name__)
    for task in TABLE.values():
        with pytest.raises(ValueError) as error:
            task_class(ready, task)
        message = str(error.value)
        assert message.startswith(f"`pipeline` is a {name}")
        assert "scaled(<diffusers pipeline class>).from_pipe(pipeline)" in message
        if family is None:
            assert "do not list" in message
            continue
        listed = [
            table[family].__name__
            for table in auto_pipeline.SUPPORTED_TASKS_MAPPINGS
            if family in table and table[family].__name__ in message
        ]
        assert get_stock_pipeline_class(ready).__name__ in listed


def test_family_without_the_task_is_a_clear_error():
    # diffusers lists the DDPM pipeline in no AutoPipeline table
    ddpm = diffusers.DDPMPipeline(unet=diffusers.UNet2DModel(sample_size=8), scheduler=diffusers.DDPMScheduler())
    with pytest.raises(ValueError, match="AutoPipeline tables do not list DDPMPipeline"):
        AutoScaledPipelineForImage2Image.from_pipe(ddpm)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    root = tmp_path_factory.mktemp("auto")
    pipe = ScaledStableDiffusionPipeline(**sd_components())
    pipe.save_pretrained(root / "scaled")
    pipe.save_pretrained(root / "stock_format", stock_format=True)
    StableDiffusionPipeline(**sd_components()).save_pretrained(root / "stock")
    return root


@pytest.mark.parametrize("form", ["scaled", "stock_format", "stock"])
@pytest.mark.parametrize(
    "auto, expected",
    [
        (AutoScaledPipelineForText2Image, ScaledStableDiffusionPipeline),
        (AutoScaledPipelineForImage2Image, ScaledStableDiffusionImg2ImgPipeline),
        (AutoScaledPipelineForInpainting, ScaledStableDiffusionInpaintPipeline),
    ],
)
def test_from_pretrained_loads_every_form_as_the_task_class(saved, form, auto, expected):
    pipe = auto.from_pretrained(saved / form)
    assert type(pipe) is expected
    reference = AutoScaledPipeline.from_pretrained(saved / form)
    for name, component in modules(reference).items():
        loaded = pipe.components[name]
        if hasattr(component, "state_dict"):
            assert all(
                np.array_equal(a.numpy(), b.numpy())
                for a, b in zip(component.state_dict().values(), loaded.state_dict().values())
            )


def test_from_pretrained_rejects_custom_pipeline(saved):
    with pytest.raises(TypeError, match="`custom_pipeline` is not accepted"):
        AutoScaledPipelineForImage2Image.from_pretrained(saved / "scaled", custom_pipeline="x")


def test_stock_auto_pipeline_loads_the_stock_form_only(saved):
    # What docs/loading.md says about diffusers' own AutoPipeline on folders a scaled pipeline saved.
    assert type(AutoPipelineForText2Image.from_pretrained(saved / "stock_format")) is StableDiffusionPipeline
    with open(saved / "scaled" / "model_index.json") as f:
        class_name = json.load(f)["_class_name"]
    with pytest.raises(ValueError, match="AutoPipeline can't find a pipeline linked to") as error:
        AutoPipelineForText2Image.from_pretrained(saved / "scaled")
    assert str(class_name) in str(error.value)
