"""Saving and loading: every path returns the class it should, and every saved folder round-trips everything.

Each test saves a tiny pipeline to a temporary folder. Comparisons are key by key (configs) and tensor by tensor
(weights); folders are compared file by file.
"""

import ast
import json
import os
import subprocess
import sys
import textwrap

import diffusers
import numpy as np
import pytest
import torch
from _compare import plain
from diffusers import (
    DDPMPipeline,
    DDPMScheduler,
    DiffusionPipeline,
    StableDiffusionImg2ImgPipeline,
    StableDiffusionPipeline,
    StableDiffusionXLImg2ImgPipeline,
    StableDiffusionXLPipeline,
    UNet2DModel,
)
from diffusers.configuration_utils import ConfigMixin
from fixtures import PROMPT, generator, sd_components, sdxl_components
from packaging import version
from safetensors.torch import load_file
from transformers import CLIPImageProcessor, PreTrainedModel, PreTrainedTokenizerBase

from diffusers_scaled import (
    AutoScaledPipeline,
    ScaledLatentsMixin,
    ScaledStableDiffusionImg2ImgPipeline,
    ScaledStableDiffusionPipeline,
    ScaledStableDiffusionXLImg2ImgPipeline,
    ScaledStableDiffusionXLPipeline,
    custom_pipeline_path,
    saving,
)


# diffusers 0.38.0 started to require `trust_remote_code=True` for a module file in a local folder, as for the hub.
DIFFUSERS_ASKS_FOR_LOCAL_CODE = version.parse(diffusers.__version__) >= version.parse("0.38.0")


class UserPipeline(ScaledLatentsMixin, StableDiffusionPipeline):
    """A user's own subclass, defined at the top level of an importable module (this one)."""

    def describe(self):
        return "user"


def sd_with_feature_extractor():
    # an optional component that is present (feature_extractor) next to ones that are None (safety_checker,
    # image_encoder), and a pipeline config value that differs from its default (requires_safety_checker)
    return {**sd_components(), "feature_extractor": CLIPImageProcessor(crop_size=32, size=32)}


CASES = {
    "sd": (ScaledStableDiffusionPipeline, StableDiffusionPipeline, sd_with_feature_extractor),
    "sdxl": (ScaledStableDiffusionXLPipeline, StableDiffusionXLPipeline, sdxl_components),
}


@pytest.fixture(scope="module", params=list(CASES))
def saved(request, tmp_path_factory):
    """A scaled pipeline and its three saved forms: by the stock class, by the scaled class, in stock format."""
    scaled_class, stock_class, factory = CASES[request.param]
    components = factory()
    root = tmp_path_factory.mktemp(request.param)
    stock = stock_class(**components)
    scaled = scaled_class(**components)
    stock.save_pretrained(root / "stock")
    scaled.save_pretrained(root / "scaled")
    scaled.save_pretrained(root / "stock_format", stock_format=True)
    return {
        "scaled_class": scaled_class,
        "stock_class": stock_class,
        "pipe": scaled,
        **{name: str(root / name) for name in ("stock", "scaled", "stock_format")},
    }


def files(folder):
    return sorted(
        os.path.relpath(os.path.join(dirpath, name), folder) for dirpath, _, names in os.walk(folder) for name in names
    )


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def model_index(folder):
    with open(os.path.join(folder, "model_index.json"), encoding="utf-8") as f:
        return json.load(f)


def config_of(component):
    if isinstance(component, PreTrainedModel):
        config = component.config.to_dict()
    elif isinstance(component, PreTrainedTokenizerBase):
        config = {
            "vocab": component.get_vocab(),
            "merges": getattr(component, "bpe_ranks", None),
            "model_max_length": component.model_max_length,
            "special_tokens": component.special_tokens_map,
            "padding_side": component.padding_side,
        }
    elif isinstance(component, CLIPImageProcessor):
        config = component.to_dict()
    else:
        config = dict(component.config)
    # bookkeeping, not configuration: where it was loaded from, and which keys a constructor left at their defaults
    return {k: v for k, v in config.items() if k not in ("_name_or_path", "name_or_path", "_use_default_values")}


def assert_same_pipelines(loaded, original):
    """Every component's class, config (key by key) and weights (tensor by tensor), and the pipeline config."""
    assert loaded.components.keys() == original.components.keys()
    for name, component in original.components.items():
        other = loaded.components[name]
        if component is None:
            assert other is None, name
            continue
        assert type(other) is type(component), name
        expected, got = config_of(component), config_of(other)
        assert got.keys() == expected.keys(), (name, got.keys() ^ expected.keys())
        for key in expected:
            assert plain(got[key]) == plain(expected[key]), (
                f"{name}.config[{key!r}]: {got[key]!r} != {expected[key]!r}"
            )
        if isinstance(component, torch.nn.Module):
            expected_state, state = component.state_dict(), other.state_dict()
            assert state.keys() == expected_state.keys(), name
            for key in expected_state:
                assert torch.equal(state[key], expected_state[key]), f"{name}.{key}"
    pipeline_config = {k: v for k, v in original.config.items() if not k.startswith("_")}
    loaded_config = {k: v for k, v in loaded.config.items() if not k.startswith("_")}
    assert plain(loaded_config) == plain(pipeline_config)


# --- saving ----------------------------------------------------------------------------------------------------------


def test_save_writes_the_custom_pipeline_form(saved):
    cls = saved["scaled_class"]
    stem = saving.module_name(cls)
    assert model_index(saved["scaled"])["_class_name"] == [stem, cls.__name__]
    source = open(os.path.join(saved["scaled"], f"{stem}.py"), encoding="utf-8").read()
    assert source == saving.module_source(cls)
    # The module defines nothing and imports only from diffusers_scaled.
    tree = ast.parse(source)
    imported = [
        n.module if isinstance(n, ast.ImportFrom) else a.name
        for n in ast.walk(tree)
        if isinstance(n, (ast.Import, ast.ImportFrom))
        for a in n.names
    ]
    assert imported and all(name.split(".")[0] == "diffusers_scaled" for name in imported)
    assert not [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef, ast.Assign))]


def test_saved_folders_equal_the_stock_save(saved):
    """Weights and configs are the same in all three forms; only `_class_name` and the module file differ."""
    stem = saving.module_name(saved["scaled_class"])
    stock_files = files(saved["stock"])
    assert files(saved["stock_format"]) == stock_files
    assert files(saved["scaled"]) == sorted([*stock_files, f"{stem}.py"])
    for name in stock_files:
        expected = read_bytes(os.path.join(saved["stock"], name))
        assert read_bytes(os.path.join(saved["stock_format"], name)) == expected, name  # byte for byte
        if name != "model_index.json":
            assert read_bytes(os.path.join(saved["scaled"], name)) == expected, name
    index, stock_index = model_index(saved["scaled"]), model_index(saved["stock"])
    assert stock_index["_class_name"] == saved["stock_class"].__name__
    assert {k: v for k, v in index.items() if k != "_class_name"} == {
        k: v for k, v in stock_index.items() if k != "_class_name"
    }
    # and the weights themselves, tensor by tensor, not only as bytes
    for name in stock_files:
        if name.endswith(".safetensors"):
            expected, got = (
                load_file(os.path.join(saved["stock"], name)),
                load_file(os.path.join(saved["scaled"], name)),
            )
            assert got.keys() == expected.keys() and all(torch.equal(got[k], expected[k]) for k in expected)


def test_optional_components_and_pipeline_config_are_saved(saved):
    index = model_index(saved["scaled"])
    assert index["image_encoder"] == [None, None]
    if saved["scaled_class"] is ScaledStableDiffusionPipeline:
        assert index["safety_checker"] == [None, None]
        assert index["feature_extractor"] == ["transformers", type(saved["pipe"].feature_extractor).__name__]
        assert index["requires_safety_checker"] is False


def test_save_errors_before_writing_anything(tmp_path):
    def define():
        class Local(ScaledLatentsMixin, StableDiffusionPipeline):
            pass

        return Local

    pipe = define()(**sd_components())
    with pytest.raises(ValueError, match=r"Local is defined in 'test_loading' inside a function.*stock_format=True"):
        pipe.save_pretrained(tmp_path / "out")
    assert not (tmp_path / "out").exists()
    pipe.save_pretrained(tmp_path / "out", stock_format=True)  # the stock form needs no import
    assert model_index(tmp_path / "out")["_class_name"] == "StableDiffusionPipeline"
    unimportable = type(
        "Unimportable", (ScaledLatentsMixin, StableDiffusionPipeline), {"__module__": "no_such_module"}
    )
    with pytest.raises(ValueError, match=r"Unimportable is defined in 'no_such_module', so a saved folder cannot"):
        unimportable(**sd_components()).save_pretrained(tmp_path / "x")
    with pytest.raises(TypeError, match=r"`stock_format` must be a bool, got 'yes'"):
        pipe.save_pretrained(tmp_path / "x", stock_format="yes")
    with pytest.raises(NotImplementedError, match=r"`push_to_hub` is not supported.*upload_folder"):
        pipe.save_pretrained(tmp_path / "x", push_to_hub=True)
    assert not (tmp_path / "x").exists()


def test_stock_format_save_removes_only_our_module_file(tmp_path):
    pipe = ScaledStableDiffusionPipeline(**sd_components())
    pipe.save_pretrained(tmp_path)
    (tmp_path / "notes.py").write_text("# the user's own file\n")
    pipe.save_pretrained(tmp_path, stock_format=True)
    assert not (tmp_path / f"{saving.module_name(ScaledStableDiffusionPipeline)}.py").exists()
    assert (tmp_path / "notes.py").exists()
    assert type(DiffusionPipeline.from_pretrained(tmp_path)) is StableDiffusionPipeline


# --- loading ---------------------------------------------------------------------------------------------------------


def test_diffusion_pipeline_loads_the_scaled_class_with_trust_remote_code(saved):
    loaded = DiffusionPipeline.from_pretrained(saved["scaled"], trust_remote_code=True)
    assert type(loaded) is saved["scaled_class"]
    assert_same_pipelines(loaded, saved["pipe"])


def test_diffusion_pipeline_without_trust_remote_code(saved):
    stem = saving.module_name(saved["scaled_class"])
    if DIFFUSERS_ASKS_FOR_LOCAL_CODE:
        # diffusers' own error
        with pytest.raises(ValueError, match=rf"(?s)contains custom code in {stem}\.py.*trust_remote_code=True"):
            DiffusionPipeline.from_pretrained(saved["scaled"])
    else:
        # diffusers 0.35 to 0.37 run a local folder's module file without asking (docs/loading.md says so)
        assert type(DiffusionPipeline.from_pretrained(saved["scaled"])) is saved["scaled_class"]


def test_stock_format_loads_as_the_stock_class(saved):
    loaded = DiffusionPipeline.from_pretrained(saved["stock_format"])
    assert type(loaded) is saved["stock_class"]
    assert_same_pipelines(loaded, saved["pipe"])


@pytest.mark.parametrize("form", ["stock", "scaled", "stock_format"])
def test_scaled_class_loads_every_form_as_itself(saved, form):
    loaded = saved["scaled_class"].from_pretrained(saved[form])
    assert type(loaded) is saved["scaled_class"]
    assert_same_pipelines(loaded, saved["pipe"])


@pytest.mark.parametrize("form", ["stock", "scaled", "stock_format"])
def test_auto_scaled_pipeline_loads_every_form(saved, form):
    loaded = AutoScaledPipeline.from_pretrained(saved[form])
    assert type(loaded) is saved["scaled_class"]
    assert_same_pipelines(loaded, saved["pipe"])


def test_explicit_class_and_auto_run_no_code_from_the_folder(saved, tmp_path):
    folder = tmp_path / "tampered"
    saved["pipe"].save_pretrained(folder)
    (folder / f"{saving.module_name(saved['scaled_class'])}.py").write_text("raise RuntimeError('folder code ran')\n")
    assert type(saved["scaled_class"].from_pretrained(folder)) is saved["scaled_class"]
    assert type(AutoScaledPipeline.from_pretrained(folder)) is saved["scaled_class"]
    with pytest.raises(RuntimeError, match="folder code ran"):  # the check can fail: diffusers does run it
        DiffusionPipeline.from_pretrained(folder, trust_remote_code=True)


@pytest.mark.parametrize("with_class_name", [True, False], ids=["path", "path-only"])
def test_custom_pipeline_path_on_a_stock_folder(saved, tmp_path, with_class_name):
    cls = saved["scaled_class"]
    path = custom_pipeline_path(cls, tmp_path)
    assert path == os.path.join(str(tmp_path), f"{saving.module_name(cls)}.py")
    assert open(path, encoding="utf-8").read() == saving.module_source(cls)
    # diffusers finds the one pipeline class in the file without being told its name
    loaded = DiffusionPipeline.from_pretrained(saved["stock"], custom_pipeline=path, trust_remote_code=True)
    assert type(loaded) is cls
    assert_same_pipelines(loaded, saved["pipe"])


def test_custom_pipeline_path_default_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    path = custom_pipeline_path(ScaledStableDiffusionXLPipeline)
    assert path == str(tmp_path / "diffusers_scaled" / "custom_pipelines" / "scaled_stable_diffusion_xl_pipeline.py")
    assert custom_pipeline_path(ScaledStableDiffusionXLPipeline) == path  # unchanged file: same path
    with pytest.raises(TypeError, match=r"`pipeline_class` must be a scaled pipeline class, got 'x'"):
        custom_pipeline_path("x")
    with pytest.raises(TypeError, match=r"`scaled` must be a pipeline class that mixes in ScaledLatentsMixin"):
        custom_pipeline_path(StableDiffusionPipeline)


def test_module_names_are_snake_case():
    assert saving.module_name(ScaledStableDiffusionXLImg2ImgPipeline) == "scaled_stable_diffusion_xl_img2img_pipeline"
    assert saving.module_name(UserPipeline) == "user_pipeline"


# --- a user's own subclass -------------------------------------------------------------------------------------------


def test_user_subclass_saves_and_loads_through_every_path(tmp_path):
    pipe = UserPipeline(**sd_components())
    pipe.save_pretrained(tmp_path / "user")
    assert model_index(tmp_path / "user")["_class_name"] == ["user_pipeline", "UserPipeline"]
    StableDiffusionPipeline(**sd_components()).save_pretrained(tmp_path / "stock")
    loaders = {
        "trust_remote_code": lambda: DiffusionPipeline.from_pretrained(tmp_path / "user", trust_remote_code=True),
        "explicit": lambda: UserPipeline.from_pretrained(tmp_path / "user"),
        "auto": lambda: AutoScaledPipeline.from_pretrained(tmp_path / "user"),
        "custom_pipeline": lambda: DiffusionPipeline.from_pretrained(
            tmp_path / "stock", custom_pipeline=custom_pipeline_path(UserPipeline, tmp_path), trust_remote_code=True
        ),
        "stock folder": lambda: UserPipeline.from_pretrained(tmp_path / "stock"),
    }
    for name, load in loaders.items():
        loaded = load()
        assert type(loaded) is UserPipeline, name
        assert loaded.describe() == "user"
        assert_same_pipelines(loaded, pipe)


# --- AutoScaledPipeline errors and from_pipe -------------------------------------------------------------------------


def test_auto_scaled_pipeline_errors(tmp_path):
    torch.manual_seed(0)
    unet = UNet2DModel(
        block_out_channels=(4, 8),
        norm_num_groups=2,
        sample_size=8,
        layers_per_block=1,
        down_block_types=("DownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "UpBlock2D"),
    )
    DDPMPipeline(unet=unet, scheduler=DDPMScheduler()).save_pretrained(tmp_path / "ddpm")
    with pytest.raises(ValueError, match=r"DDPMPipeline has no scaled counterpart"):
        AutoScaledPipeline.from_pretrained(tmp_path / "ddpm")

    ScaledStableDiffusionPipeline(**sd_components()).save_pretrained(tmp_path / "custom")
    index = model_index(tmp_path / "custom")
    index["_class_name"] = ["community_pipe", "CommunityPipe"]
    (tmp_path / "custom" / "model_index.json").write_text(json.dumps(index))
    with pytest.raises(
        ValueError, match=r"custom pipeline CommunityPipe \(module file community_pipe\.py\).*runs no code"
    ):
        AutoScaledPipeline.from_pretrained(tmp_path / "custom")
    with pytest.raises(TypeError, match=r"`custom_pipeline` is not accepted"):
        AutoScaledPipeline.from_pretrained(tmp_path / "custom", custom_pipeline="x")
    with pytest.raises(EnvironmentError, match=r"AutoScaledPipeline is designed to be instantiated"):
        AutoScaledPipeline()
    with pytest.raises(TypeError, match=r"`pipeline` must be a DiffusionPipeline, got str"):
        AutoScaledPipeline.from_pipe("x")


FROM_PIPE = {
    "sd": (
        ScaledStableDiffusionPipeline,
        ScaledStableDiffusionImg2ImgPipeline,
        StableDiffusionImg2ImgPipeline,
        sd_components,
    ),
    "sdxl": (
        ScaledStableDiffusionXLPipeline,
        ScaledStableDiffusionXLImg2ImgPipeline,
        StableDiffusionXLImg2ImgPipeline,
        sdxl_components,
    ),
}


@pytest.mark.parametrize("name", FROM_PIPE)
def test_from_pipe_shares_components_and_generates_as_stock(name):
    txt2img_class, img2img_class, stock_img2img_class, factory = FROM_PIPE[name]
    txt2img = txt2img_class(**factory())
    img2img = img2img_class.from_pipe(txt2img)
    stock = stock_img2img_class.from_pipe(txt2img)
    assert type(img2img) is img2img_class
    for component_name, component in txt2img.components.items():
        if component_name in img2img.components:
            assert img2img.components[component_name] is component, component_name  # shared, not copied
    assert {k: v for k, v in img2img.config.items() if k != "_class_name"} == {
        k: v for k, v in stock.config.items() if k != "_class_name"
    }

    image = txt2img.decode_latents(
        txt2img(
            PROMPT, num_inference_steps=2, height=32, width=32, output_type="latent", generator=generator(0)
        ).images,
        output_type="pil",
    )
    kwargs = {"prompt": PROMPT, "image": image, "num_inference_steps": 2, "strength": 0.75, "output_type": "np"}
    assert np.array_equal(
        img2img(**kwargs, generator=generator(1)).images, stock(**kwargs, generator=generator(1)).images
    )

    auto = AutoScaledPipeline.from_pipe(stock)
    assert type(auto) is img2img_class and auto.unet is txt2img.unet


# --- what a user without the package, or with it, sees ----------------------------------------------------------------


def run_python(code):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env, timeout=300
    )


def test_without_the_package(saved):
    """In a process where `diffusers_scaled` cannot be imported: the stock form loads as the stock class, and the
    custom-pipeline form fails with the module file's message."""
    result = run_python(
        f"""
        import sys
        sys.modules["diffusers_scaled"] = None  # import diffusers_scaled -> ImportError, as if not installed
        from diffusers import DiffusionPipeline
        print(type(DiffusionPipeline.from_pretrained({saved["stock_format"]!r})).__name__)
        try:
            DiffusionPipeline.from_pretrained({saved["scaled"]!r}, trust_remote_code=True)
        except ImportError as error:
            print("ImportError:", error)
        """
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0] == saved["stock_class"].__name__
    ours = f"ImportError: This pipeline was saved by diffusers-scaled as {saved['scaled_class'].__name__}, which needs"
    # diffusers 0.35 to 0.37 check the module's imports themselves and raise before running it; 0.38 and later warn
    theirs = "ImportError: This modeling file requires the following packages that were not found in your environment"
    assert lines[1].startswith(ours) or lines[1].startswith(theirs), lines[1]
    assert "`pip install diffusers-scaled`" in lines[1] or "`pip install diffusers_scaled`" in lines[1]
    if DIFFUSERS_ASKS_FOR_LOCAL_CODE:
        assert lines[1].startswith(ours)


def test_load_config_reads_model_index_through_the_overridden_reader():
    # `SelfDescribingPipelineMixin._dict_from_json_file` relies on diffusers reading `model_index.json` through it.
    # If a diffusers release reads it another way, this fails (and `test_explicit_class_and_auto_run_no_code...` too).
    import inspect

    assert "cls._dict_from_json_file(" in inspect.getsource(ConfigMixin.load_config)
    assert "cls._dict_from_json_file(" in inspect.getsource(DiffusionPipeline.download)


def test_docs_show_the_module_file_as_written():
    page = open(os.path.join(os.path.dirname(__file__), "..", "docs", "loading.md"), encoding="utf-8").read()
    shown = page.split("```text\n", 1)[1].split("```", 1)[0]
    assert shown == saving.module_source(ScaledStableDiffusionPipeline)
