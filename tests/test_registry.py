"""The registry maps stock pipelines to their scaled counterparts and back; every mixin subclass registers itself."""

import gc

import diffusers
import pytest
from diffusers import (
    DiffusionPipeline,
    LatentConsistencyModelPipeline,
    StableDiffusionImg2ImgPipeline,
    StableDiffusionInpaintPipeline,
    StableDiffusionPipeline,
    StableDiffusionXLImg2ImgPipeline,
    StableDiffusionXLInpaintPipeline,
    StableDiffusionXLPipeline,
)

import diffusers_scaled
from diffusers_scaled import (
    ScaledLatentsMixin,
    ScaledStableDiffusionImg2ImgPipeline,
    ScaledStableDiffusionInpaintPipeline,
    ScaledStableDiffusionPipeline,
    ScaledStableDiffusionXLImg2ImgPipeline,
    ScaledStableDiffusionXLInpaintPipeline,
    ScaledStableDiffusionXLPipeline,
    _registry,
    get_scaled_pipeline_class,
    get_stock_pipeline_class,
)
from diffusers_scaled.formats.image import STABLE_DIFFUSION


READY = {
    StableDiffusionPipeline: ScaledStableDiffusionPipeline,
    StableDiffusionImg2ImgPipeline: ScaledStableDiffusionImg2ImgPipeline,
    StableDiffusionInpaintPipeline: ScaledStableDiffusionInpaintPipeline,
    StableDiffusionXLPipeline: ScaledStableDiffusionXLPipeline,
    StableDiffusionXLImg2ImgPipeline: ScaledStableDiffusionXLImg2ImgPipeline,
    StableDiffusionXLInpaintPipeline: ScaledStableDiffusionXLInpaintPipeline,
}


class UserSDPipeline(ScaledLatentsMixin, StableDiffusionPipeline):
    """A user's own subclass, defined after the package's ready classes."""


class UserIntermediatePipeline(StableDiffusionXLPipeline):
    """A user's non-scaled customisation of a stock pipeline."""


class UserScaledIntermediatePipeline(ScaledLatentsMixin, UserIntermediatePipeline):
    pass


@pytest.mark.parametrize("stock", READY, ids=lambda c: c.__name__)
def test_ready_classes_both_ways(stock):
    scaled = READY[stock]
    assert get_scaled_pipeline_class(stock) is scaled
    assert get_scaled_pipeline_class(stock.__name__) is scaled
    assert get_stock_pipeline_class(scaled) is stock
    assert get_scaled_pipeline_class(scaled) is scaled  # a scaled class is its own counterpart
    # one module file per class, so that each can be handed to diffusers on its own
    assert scaled.__module__ == f"diffusers_scaled.pipelines.pipeline_{_snake(scaled.__name__)}"
    assert getattr(diffusers_scaled, scaled.__name__) is scaled


def _snake(name):
    return {
        "ScaledStableDiffusionPipeline": "scaled_stable_diffusion",
        "ScaledStableDiffusionImg2ImgPipeline": "scaled_stable_diffusion_img2img",
        "ScaledStableDiffusionInpaintPipeline": "scaled_stable_diffusion_inpaint",
        "ScaledStableDiffusionXLPipeline": "scaled_stable_diffusion_xl",
        "ScaledStableDiffusionXLImg2ImgPipeline": "scaled_stable_diffusion_xl_img2img",
        "ScaledStableDiffusionXLInpaintPipeline": "scaled_stable_diffusion_xl_inpaint",
    }[name]


def test_user_subclass_registers_and_ready_class_stays_preferred():
    assert UserSDPipeline in _registry.registered_classes_for(StableDiffusionPipeline)
    assert _registry.registered_classes_for(StableDiffusionPipeline)[0] is ScaledStableDiffusionPipeline
    assert get_scaled_pipeline_class(StableDiffusionPipeline) is ScaledStableDiffusionPipeline
    assert get_stock_pipeline_class(UserSDPipeline) is StableDiffusionPipeline
    assert _registry.registered_class_named("UserSDPipeline") is UserSDPipeline


class CommunityPipeline(DiffusionPipeline):
    """A pipeline that diffusers does not export (a community pipeline)."""


def test_ready_class_preferred_even_when_registered_after_a_users():
    class UserFirst(ScaledLatentsMixin, CommunityPipeline):
        latent_format = STABLE_DIFFUSION  # a community pipeline says which latent format it uses

    # A class of this package, however late it is defined, comes before users' classes.
    ready_later = type(
        "ReadyLater",
        (ScaledLatentsMixin, CommunityPipeline),
        {"__module__": "diffusers_scaled.x", "latent_format": STABLE_DIFFUSION},
    )
    assert _registry.registered_classes_for(CommunityPipeline) == [ready_later, UserFirst]
    assert get_scaled_pipeline_class(CommunityPipeline) is ready_later
    assert get_stock_pipeline_class(UserFirst) is CommunityPipeline  # no diffusers export in the MRO: the first base


def test_stock_class_is_the_diffusers_pipeline_behind_a_users_intermediate_class():
    assert get_stock_pipeline_class(UserScaledIntermediatePipeline) is StableDiffusionXLPipeline
    assert UserScaledIntermediatePipeline in _registry.registered_classes_for(StableDiffusionXLPipeline)
    assert get_scaled_pipeline_class(StableDiffusionXLPipeline) is ScaledStableDiffusionXLPipeline


def test_class_defined_in_a_function_is_dropped_with_it():
    def define():
        class Temporary(ScaledLatentsMixin, LatentConsistencyModelPipeline):
            pass

        assert _registry.registered_class_named("Temporary") is Temporary

    define()
    gc.collect()
    assert _registry.registered_class_named("Temporary") is None


def test_mixin_subclass_without_a_pipeline_is_not_registered():
    class StillAMixin(ScaledLatentsMixin):
        pass

    assert StillAMixin not in _registry.registered_scaled_classes()


def test_duplicate_names_are_an_error_naming_both():
    def define():
        class UserSDPipeline(ScaledLatentsMixin, StableDiffusionPipeline):  # noqa: F811 - the point of the test
            pass

        return UserSDPipeline

    other = define()
    with pytest.raises(ValueError, match=r"Several registered scaled pipeline classes are named 'UserSDPipeline'"):
        _registry.registered_class_named("UserSDPipeline")
    del other


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match=r"DDPMPipeline has no scaled counterpart.*ScaledLatentsMixin, DDPMPipeline"):
        get_scaled_pipeline_class("DDPMPipeline")
    with pytest.raises(ValueError, match=r"`stock` must name a diffusers pipeline class, got 'NoSuchPipeline'"):
        get_scaled_pipeline_class("NoSuchPipeline")
    with pytest.raises(ValueError, match=r"`stock` must name a diffusers pipeline class, got 'AutoencoderKL'"):
        get_scaled_pipeline_class("AutoencoderKL")
    with pytest.raises(TypeError, match=r"`stock` must be a diffusers pipeline class or its name, got 3"):
        get_scaled_pipeline_class(3)
    with pytest.raises(TypeError, match=r"`scaled` must be a pipeline class that mixes in ScaledLatentsMixin"):
        get_stock_pipeline_class(StableDiffusionPipeline)
    with pytest.raises(TypeError, match=r"`scaled` must be a pipeline class"):
        get_stock_pipeline_class(DiffusionPipeline)


@pytest.mark.parametrize("name", diffusers_scaled.pipelines.READY_CLASSES)
def test_ready_class_table_matches_the_modules(name):
    module, stock_name = diffusers_scaled.pipelines.READY_CLASSES[name]
    if not hasattr(diffusers, stock_name):
        pytest.skip(f"{name} extends {stock_name}, which diffusers {diffusers.__version__} does not have")
    cls = diffusers_scaled.pipelines.ready_class_named(name)
    assert cls.__name__ == name and cls.__module__ == f"diffusers_scaled.pipelines.{module}"
    assert get_stock_pipeline_class(cls) is getattr(diffusers, stock_name)
    assert diffusers_scaled.pipelines.ready_class_for(getattr(diffusers, stock_name)) is cls
