"""Which diffusers pipeline is which latent format: an explicit table, not duck typing.

Every `DiffusionPipeline` class the installed diffusers exports that takes a `vae` is either in `PROVEN` (mapped to
its family's format, with the test that checks it against the stock pipeline) or in `REFUSED` (with the reason);
`tests/formats/test_table.py` walks diffusers' exports and fails on any class that is in neither, so a new diffusers
release cannot slip an unproven class in. docs/latent-spaces.md's coverage table is generated from this table.
"""

from __future__ import annotations

from . import image, sd_video, video
from ._base import LatentFormat


# pipeline class name -> (format, the test that proves decode (and encode, for the conditioned pipelines) bitwise)
PROVEN: dict[str, tuple[LatentFormat, str]] = {
    "StableDiffusionPipeline": (image.STABLE_DIFFUSION, "tests/pipelines/test_pipelines_generation.py"),
    "StableDiffusionImg2ImgPipeline": (image.STABLE_DIFFUSION, "tests/pipelines/test_pipelines_generation.py"),
    "StableDiffusionInpaintPipeline": (image.STABLE_DIFFUSION, "tests/pipelines/test_pipelines_generation.py"),
    "LatentConsistencyModelPipeline": (image.STABLE_DIFFUSION, "tests/formats/test_image_families.py"),
    "StableDiffusionXLPipeline": (image.STABLE_DIFFUSION_XL, "tests/test_latent_spaces.py"),
    "StableDiffusionXLImg2ImgPipeline": (image.STABLE_DIFFUSION_XL, "tests/test_latent_spaces.py"),
    "StableDiffusionXLInpaintPipeline": (image.STABLE_DIFFUSION_XL, "tests/test_latent_spaces.py"),
    "StableDiffusionControlNetPipeline": (image.STABLE_DIFFUSION, "tests/formats/test_image_variants.py"),
    "StableDiffusionControlNetImg2ImgPipeline": (image.STABLE_DIFFUSION, "tests/formats/test_image_variants.py"),
    "StableDiffusionControlNetInpaintPipeline": (image.STABLE_DIFFUSION, "tests/formats/test_image_variants.py"),
    "StableDiffusionPAGPipeline": (image.STABLE_DIFFUSION, "tests/formats/test_image_variants.py"),
    "StableDiffusionPAGImg2ImgPipeline": (image.STABLE_DIFFUSION, "tests/formats/test_image_variants.py"),
    "StableDiffusionPAGInpaintPipeline": (image.STABLE_DIFFUSION, "tests/formats/test_image_variants.py"),
    "StableDiffusionControlNetPAGPipeline": (image.STABLE_DIFFUSION, "tests/formats/test_image_variants.py"),
    "StableDiffusionControlNetPAGInpaintPipeline": (image.STABLE_DIFFUSION, "tests/formats/test_image_variants.py"),
    "LatentConsistencyModelImg2ImgPipeline": (image.STABLE_DIFFUSION, "tests/formats/test_image_variants.py"),
    "StableDiffusionInstructPix2PixPipeline": (image.STABLE_DIFFUSION, "tests/formats/test_image_variants.py"),
    "StableDiffusionAdapterPipeline": (image.STABLE_DIFFUSION_T2I_ADAPTER, "tests/formats/test_image_variants.py"),
    "StableDiffusionXLControlNetPipeline": (image.STABLE_DIFFUSION_XL, "tests/formats/test_image_variants.py"),
    "StableDiffusionXLControlNetImg2ImgPipeline": (image.STABLE_DIFFUSION_XL, "tests/formats/test_image_variants.py"),
    "StableDiffusionXLPAGPipeline": (image.STABLE_DIFFUSION_XL, "tests/formats/test_image_variants.py"),
    "StableDiffusionXLPAGImg2ImgPipeline": (image.STABLE_DIFFUSION_XL, "tests/formats/test_image_variants.py"),
    "StableDiffusionXLPAGInpaintPipeline": (image.STABLE_DIFFUSION_XL, "tests/formats/test_image_variants.py"),
    "StableDiffusionXLControlNetPAGPipeline": (image.STABLE_DIFFUSION_XL, "tests/formats/test_image_variants.py"),
    "StableDiffusionXLControlNetPAGImg2ImgPipeline": (
        image.STABLE_DIFFUSION_XL,
        "tests/formats/test_image_variants.py",
    ),
    "StableDiffusionXLControlNetUnionPipeline": (image.STABLE_DIFFUSION_XL, "tests/formats/test_image_variants.py"),
    "StableDiffusionXLControlNetUnionImg2ImgPipeline": (
        image.STABLE_DIFFUSION_XL,
        "tests/formats/test_image_variants.py",
    ),
    "StableDiffusionXLInstructPix2PixPipeline": (image.STABLE_DIFFUSION_XL, "tests/formats/test_image_variants.py"),
    "StableDiffusionXLControlNetInpaintPipeline": (
        image.STABLE_DIFFUSION_XL_FACTOR_ONLY,
        "tests/formats/test_image_variants.py",
    ),
    "StableDiffusionXLControlNetUnionInpaintPipeline": (
        image.STABLE_DIFFUSION_XL_FACTOR_ONLY,
        "tests/formats/test_image_variants.py",
    ),
    "StableDiffusionXLAdapterPipeline": (
        image.STABLE_DIFFUSION_XL_FACTOR_ONLY,
        "tests/formats/test_image_variants.py",
    ),
    "KolorsPipeline": (image.STABLE_DIFFUSION_XL_FACTOR_ONLY, "tests/formats/test_image_variants.py"),
    "KolorsPAGPipeline": (image.STABLE_DIFFUSION_XL_FACTOR_ONLY, "tests/formats/test_image_variants.py"),
    "StableDiffusion3Pipeline": (image.STABLE_DIFFUSION_3, "tests/pipelines/test_sd3.py"),
    "StableDiffusion3Img2ImgPipeline": (image.STABLE_DIFFUSION_3, "tests/pipelines/test_sd3.py"),
    "StableDiffusion3PAGPipeline": (image.STABLE_DIFFUSION_3, "tests/formats/test_image_variants.py"),
    "StableDiffusion3PAGImg2ImgPipeline": (image.STABLE_DIFFUSION_3, "tests/formats/test_image_variants.py"),
    "StableDiffusion3ControlNetPipeline": (image.STABLE_DIFFUSION_3, "tests/formats/test_image_variants.py"),
    "StableDiffusion3ControlNetInpaintingPipeline": (image.STABLE_DIFFUSION_3, "tests/formats/test_image_variants.py"),
    "FluxPipeline": (image.FLUX, "tests/pipelines/test_flux.py"),
    "FluxImg2ImgPipeline": (image.FLUX, "tests/pipelines/test_flux.py"),
    "FluxKontextPipeline": (image.FLUX_KONTEXT, "tests/formats/test_image_variants.py"),
    "FluxInpaintPipeline": (image.FLUX, "tests/formats/test_image_variants.py"),
    "FluxFillPipeline": (image.FLUX, "tests/formats/test_image_variants.py"),
    "FluxControlPipeline": (image.FLUX, "tests/formats/test_image_variants.py"),
    "FluxControlImg2ImgPipeline": (image.FLUX, "tests/formats/test_image_variants.py"),
    "FluxControlInpaintPipeline": (image.FLUX, "tests/formats/test_image_variants.py"),
    "FluxControlNetPipeline": (image.FLUX, "tests/formats/test_image_variants.py"),
    "FluxControlNetImg2ImgPipeline": (image.FLUX, "tests/formats/test_image_variants.py"),
    "FluxControlNetInpaintPipeline": (image.FLUX, "tests/formats/test_image_variants.py"),
    "FluxKontextInpaintPipeline": (image.FLUX_KONTEXT, "tests/formats/test_image_variants.py"),
    "Flux2Pipeline": (image.FLUX_2, "tests/pipelines/test_flux2.py"),
    "QwenImagePipeline": (image.QWEN_IMAGE, "tests/pipelines/test_qwenimage.py"),
    "QwenImageImg2ImgPipeline": (image.QWEN_IMAGE, "tests/pipelines/test_qwenimage.py"),
    "QwenImageEditPipeline": (image.QWEN_IMAGE_EDIT, "tests/pipelines/test_qwenimage.py"),
    "ZImagePipeline": (image.Z_IMAGE, "tests/pipelines/test_z_image.py"),
    "ZImageImg2ImgPipeline": (image.Z_IMAGE, "tests/pipelines/test_z_image.py"),
    "PixArtSigmaPipeline": (image.PIXART, "tests/test_factory.py"),
    "PixArtAlphaPipeline": (image.PIXART, "tests/formats/test_image_families.py"),
    "SanaPipeline": (image.SANA, "tests/test_vae_types.py"),
    "SanaSprintImg2ImgPipeline": (image.SANA, "tests/test_vae_types.py"),
    "ChromaPipeline": (image.CHROMA, "tests/formats/test_image_families.py"),
    "ChromaImg2ImgPipeline": (image.CHROMA, "tests/formats/test_image_families.py"),
    "Lumina2Pipeline": (image.LUMINA2, "tests/formats/test_image_families.py"),
    "CogView4Pipeline": (image.COGVIEW4, "tests/formats/test_image_families.py"),
    "ChromaInpaintPipeline": (image.CHROMA, "tests/formats/test_image_variants.py"),
    "PixArtSigmaPAGPipeline": (image.PIXART, "tests/formats/test_image_variants.py"),
    "SanaPAGPipeline": (image.SANA, "tests/formats/test_image_variants.py"),
    "QwenImageInpaintPipeline": (image.QWEN_IMAGE, "tests/formats/test_image_variants.py"),
    "ZImageInpaintPipeline": (image.Z_IMAGE, "tests/formats/test_image_variants.py"),
    "HiDreamImagePipeline": (image.HIDREAM, "tests/formats/test_image_more.py"),
    "HunyuanImagePipeline": (image.HUNYUAN_IMAGE, "tests/formats/test_image_more.py"),
    "HunyuanImageRefinerPipeline": (image.HUNYUAN_IMAGE_REFINER, "tests/formats/test_image_more.py"),
    "QwenImageControlNetPipeline": (image.QWEN_IMAGE, "tests/formats/test_image_more.py"),
    "QwenImageControlNetInpaintPipeline": (image.QWEN_IMAGE, "tests/formats/test_image_more.py"),
    "QwenImageEditInpaintPipeline": (image.QWEN_IMAGE, "tests/formats/test_image_more.py"),
    "QwenImageEditPlusPipeline": (image.QWEN_IMAGE_EDIT, "tests/formats/test_image_more.py"),
    "ZImageControlNetPipeline": (image.Z_IMAGE, "tests/formats/test_image_more.py"),
    "ZImageControlNetInpaintPipeline": (image.Z_IMAGE, "tests/formats/test_image_more.py"),
    "SanaSprintPipeline": (image.SANA, "tests/formats/test_image_more.py"),
    "SanaControlNetPipeline": (image.SANA, "tests/formats/test_image_more.py"),
    "CogView4ControlPipeline": (image.COGVIEW4, "tests/formats/test_image_more.py"),
    "CogView3PlusPipeline": (image.COGVIEW4, "tests/formats/test_image_more.py"),
    "AuraFlowPipeline": (image.STABLE_DIFFUSION_XL_FACTOR_ONLY, "tests/formats/test_image_more.py"),
    "LuminaPipeline": (image.STABLE_DIFFUSION_XL_FACTOR_ONLY, "tests/formats/test_image_more.py"),
    "HunyuanDiTPipeline": (image.STABLE_DIFFUSION_XL_FACTOR_ONLY, "tests/formats/test_image_more.py"),
    "HunyuanDiTPAGPipeline": (image.STABLE_DIFFUSION_XL_FACTOR_ONLY, "tests/formats/test_image_more.py"),
    "HunyuanDiTControlNetPipeline": (image.STABLE_DIFFUSION_XL_FACTOR_ONLY, "tests/formats/test_image_more.py"),
    "OvisImagePipeline": (image.FLUX, "tests/formats/test_image_more.py"),
}

_VIDEO = (
    "a video pipeline whose latent format is not proven yet",
    """AllegroPipeline
    AnyFlowFARPipeline AnyFlowPipeline ChronoEditPipeline CogVideoXFunControlPipeline
    Cosmos2TextToImagePipeline Cosmos2VideoToWorldPipeline
    Cosmos2_5_PredictBasePipeline Cosmos2_5_TransferPipeline Cosmos3OmniPipeline CosmosTextToWorldPipeline
    CosmosVideoToWorldPipeline EasyAnimateControlPipeline EasyAnimateInpaintPipeline EasyAnimatePipeline
    HeliosPipeline HeliosPyramidPipeline HunyuanVideoFramepackPipeline Kandinsky5I2VPipeline Kandinsky5T2VPipeline Kandinsky6SRPipeline Kandinsky6TI2VAPipeline LTX2ConditionPipeline
    LTX2DFRPipeline LTX2DFRTemporalRefinePipeline LTX2HDRPipeline LTX2ImageToVideoPipeline LTX2InContextPipeline
    LTX2LatentUpsamplePipeline LTX2Pipeline LTX2VideoDiffusionDecodePipeline LTXConditionPipeline
    LTXI2VLongMultiPromptPipeline LTXLatentUpsamplePipeline LattePipeline LucyEditPipeline
    MotifVideoImage2VideoPipeline MotifVideoPipeline SanaImageToVideoPipeline SanaVideoPipeline
    SanaWMLTX2Refiner SanaWMPipeline SkyReelsV2DiffusionForcingVideoToVideoPipeline
    WanAnimatePipeline WanVACEPipeline""",
)
_AUDIO = (
    "an audio pipeline: its VAE decodes spectrograms or waveforms, not images",
    """AceStepPipeline AudioLDM2Pipeline AudioLDMPipeline LongCatAudioDiTPipeline MusicLDMPipeline
    StableAudio3AudioToAudioPipeline StableAudio3InpaintPipeline StableAudio3Pipeline StableAudioPipeline""",
)
_NOT_IMAGES = (
    "its outputs are not images decoded by `image_processor.postprocess` (depth, normals, proteins, RGB-D, or a "
    "second output beside the image)",
    """MarigoldDepthPipeline MarigoldIntrinsicsPipeline MarigoldNormalsPipeline RFD4ProteinaPipeline
    StableDiffusionLDM3DPipeline UniDiffuserPipeline VersatileDiffusionPipeline""",
)
_UNTESTABLE_OFFLINE = (
    "an image pipeline no test can run offline: its `__call__` drops `pooled_prompt_embeds`, so it needs its ChatGLM "
    "text encoder, whose tokenizer cannot be built offline",
    "KolorsImg2ImgPipeline",
)
_PROMPT_REQUIRED = (
    "an image pipeline no test can run offline: its `__call__` fails given `prompt_embeds` without a `prompt` "
    "(`encode_prompt` takes `len(prompt)`) and refuses both, so it needs its Qwen2.5-VL tokenizer, which cannot be "
    "built offline",
    "LongCatImagePipeline",
)
_INCONSISTENT = (
    "its own decode does not invert its own encoding: it decodes `vae.decode(latents / f)`, leaving out the "
    "`shift_factor` its `_encode_vae_image` subtracts; an exact `decode_latents` would copy that mistake",
    "StableDiffusion3InpaintPipeline",
)
_RAW_LATENT_OUTPUT = (
    'its `output_type="latent"` returns raw VAE latents (statistics undone, unpatchified) while its image '
    "conditions are encoded normalized and patchified: no one latent format is both",
    "Flux2KleinPipeline Flux2KleinInpaintPipeline Flux2KleinKVPipeline",
)
_NO_LATENT_OUTPUT = (
    'its `__call__` has no `output_type="latent"` (it always decodes, with its own post-processing or through the '
    "deprecated `decode_latents`) and it has no `image_processor`: there are no latents of its own for "
    "`decode_latents` to match",
    "DiTPipeline StableDiffusionPipelineSafe",
)
_NOT_PROVEN = (
    "an image pipeline no test checks against its stock `__call__` yet",
    """BlipDiffusionControlNetPipeline
    BlipDiffusionPipeline BriaFibo2Pipeline BriaFiboEditPipeline BriaFiboPipeline BriaPipeline
    DreamLiteMobilePipeline DreamLitePipeline
    ErnieImagePipeline GlmImagePipeline
    Ideogram4Pipeline JoyImageEditPipeline
    JoyImageEditPlusPipeline Kandinsky5I2IPipeline Kandinsky5T2IPipeline Krea2Pipeline
    LongCatImageEditPipeline NucleusMoEImagePipeline OmniGenPipeline PRXPipeline QwenImage21Pipeline
    QwenImageLayeredPipeline
    VersatileDiffusionDualGuidedPipeline VersatileDiffusionImageVariationPipeline
    VersatileDiffusionTextToImagePipeline VisualClozeGenerationPipeline VisualClozePipeline
    ZImageOmniPipeline""",
)

# pipeline class name -> why `scaled()` refuses it
REFUSED: dict[str, str] = {
    name: reason
    for reason, names in (
        _VIDEO,
        _AUDIO,
        _NOT_IMAGES,
        _UNTESTABLE_OFFLINE,
        _PROMPT_REQUIRED,
        _INCONSISTENT,
        _RAW_LATENT_OUTPUT,
        _NO_LATENT_OUTPUT,
        _NOT_PROVEN,
    )
    for name in names.split()
}

PROVEN.update(video.VIDEO_PROVEN)
PROVEN.update(sd_video.SD_VIDEO_PROVEN)

# The other pipelines on the SD 1.x/2.x VAE (variants, deprecated pipelines, upscalers): one parametrized test.
_SD_VARIANTS = """AltDiffusionImg2ImgPipeline AltDiffusionPipeline CycleDiffusionPipeline PaintByExamplePipeline
    SemanticStableDiffusionPipeline StableDiffusionAttendAndExcitePipeline StableDiffusionControlNetXSPipeline
    StableDiffusionDepth2ImgPipeline StableDiffusionDiffEditPipeline StableDiffusionGLIGENPipeline
    StableDiffusionGLIGENTextImagePipeline StableDiffusionImageVariationPipeline
    StableDiffusionInpaintPipelineLegacy StableDiffusionLatentUpscalePipeline StableDiffusionModelEditingPipeline
    StableDiffusionPanoramaPipeline StableDiffusionParadigmsPipeline StableDiffusionPix2PixZeroPipeline
    StableDiffusionSAGPipeline StableDiffusionUpscalePipeline StableUnCLIPImg2ImgPipeline StableUnCLIPPipeline"""
PROVEN.update(dict.fromkeys(_SD_VARIANTS.split(), (image.STABLE_DIFFUSION, "tests/formats/test_sd_variants.py")))
PROVEN["LEditsPPPipelineStableDiffusion"] = (image.STABLE_DIFFUSION, "tests/formats/test_sd_variants.py")
# decodes its frames (a batch of images) with the deprecated `decode_latents`, as the T2I-Adapter pipeline
PROVEN["TextToVideoZeroPipeline"] = (image.STABLE_DIFFUSION_T2I_ADAPTER, "tests/formats/test_sd_variants.py")
# SDXL pipelines among them that ignore the VAE's `latents_mean`/`latents_std`
_SDXL_FACTOR_ONLY_VARIANTS = (
    "LEditsPPPipelineStableDiffusionXL StableDiffusionXLControlNetXSPipeline TextToVideoZeroSDXLPipeline"
)
PROVEN.update(
    dict.fromkeys(
        _SDXL_FACTOR_ONLY_VARIANTS.split(),
        (image.STABLE_DIFFUSION_XL_FACTOR_ONLY, "tests/formats/test_sd_variants.py"),
    )
)


def _proven_name(pipeline_class: type) -> str | None:
    # The first class in the MRO that diffusers exports under its own name and the table maps: a user's subclass of a
    # stock pipeline has that pipeline's format.
    import diffusers

    for base in pipeline_class.__mro__:
        name = base.__name__
        if name in PROVEN and base.__module__.split(".")[0] == "diffusers" and getattr(diffusers, name, None) is base:
            return name
    return None


def covered_families() -> list[str]:
    """The names of the families with at least one proven pipeline, in table order."""
    return list(dict.fromkeys(fmt.name for fmt, _ in PROVEN.values()))


def formats_for_vae(vae_class: type) -> list[LatentFormat]:
    r"""
    The formats of the proven pipelines whose `vae` argument is annotated with `vae_class` (or a base class of it), in
    table order, each once: the latent spaces a bare VAE of this class can serve (several for `AutoencoderKL`).

    Args:
        vae_class (`type`): a diffusers autoencoder class, e.g. `AutoencoderKLWan`.

    Returns:
        `list[LatentFormat]`: empty when no proven pipeline takes this VAE class.
    """
    import inspect

    import diffusers

    found = []
    for name, (fmt, _) in PROVEN.items():
        if fmt in found:
            continue
        try:
            pipeline_class = getattr(diffusers, name, None)
        except Exception:  # an optional dependency this environment lacks (see `exported_vae_pipelines`)
            continue
        if pipeline_class is None:
            continue
        annotation = inspect.signature(pipeline_class.__init__).parameters["vae"].annotation
        names = {getattr(a, "__name__", str(a)) for a in getattr(annotation, "__args__", (annotation,))}
        if names & {base.__name__ for base in vae_class.__mro__}:
            found.append(fmt)
    return found


def format_for(pipeline_class: type) -> LatentFormat:
    r"""
    The latent format of a diffusers pipeline class (or of a subclass of one), from the explicit table.

    Args:
        pipeline_class (`type`): a diffusers pipeline class, e.g. `QwenImagePipeline`.

    Returns:
        `LatentFormat`: its family's format.

    Raises:
        `TypeError`: no proven format covers `pipeline_class`; the message names the reason and the covered families.
    """
    name = _proven_name(pipeline_class)
    if name is not None:
        return PROVEN[name][0]
    reason = next((REFUSED[b.__name__] for b in pipeline_class.__mro__ if b.__name__ in REFUSED), None)
    why = reason or "no latent format of this package covers it"
    raise TypeError(
        f"`{pipeline_class.__name__}` has no proven latent format ({why}), so `encode_latents` / `decode_latents` "
        f"could not be exact for it. Covered families: {', '.join(covered_families())}; docs/latent-spaces.md lists "
        "every pipeline class. For a pipeline of your own whose latents follow one of these families, set "
        "`latent_format` on your subclass (e.g. `latent_format = diffusers_scaled.formats.image.STABLE_DIFFUSION`)."
    )


def proving_test(pipeline_class_name: str) -> str:
    """The test file that proves `pipeline_class_name`'s format against its stock pipeline."""
    return PROVEN[pipeline_class_name][1]


def coverage_markdown(pipeline_names: list[str]) -> str:
    r"""
    The coverage section of docs/latent-spaces.md, generated from this table: one row per proven family (pipelines,
    formula, where its numbers live, layout, proving tests), the count of exact classes among `pipeline_names` (every
    exported pipeline class with a `vae`), and the refused ones grouped by reason.
    """
    proven = [n for n in PROVEN if n in pipeline_names]  # table order
    families: dict[str, list[str]] = {}
    for name in proven:
        families.setdefault(PROVEN[name][0].name, []).append(name)
    lines = [
        f"**{len(proven)} of {len(pipeline_names)}** pipeline classes with a `vae` that diffusers exports are exact "
        "(decode, and encode where the family has an image-conditioned pipeline, bitwise against the stock pipeline).",
        "",
        "| family | pipelines | raw -> denoiser | numbers read from | layout | proved by |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for family, names in families.items():
        fmt = PROVEN[names[0]][0]
        tests = ", ".join(f"`{t}`" for t in dict.fromkeys(PROVEN[n][1] for n in names))
        layout = fmt.layout.description + ("; VAE fed one frame (5-D)" if fmt.frame_axis else "")
        lines.append(
            f"| {family} | {', '.join(f'`{n}`' for n in names)} | {fmt.formula} | {fmt.statistics.description} "
            f"| {layout} | {tests} |"
        )
    refused: dict[str, list[str]] = {}
    for name in pipeline_names:
        if name not in PROVEN:
            refused.setdefault(REFUSED.get(name, "not in the table"), []).append(name)
    lines += ["", f"Refused by `scaled(...)` with a `TypeError` ({len(pipeline_names) - len(proven)}):", ""]
    for reason, names in refused.items():
        lines.append(f"- {reason} ({len(names)}): {', '.join(f'`{n}`' for n in names)}")
    return "\n".join(lines) + "\n"


def exported_vae_pipelines() -> list[str]:
    """The names of the `DiffusionPipeline` classes the installed diffusers exports that take a `vae`, sorted."""
    import inspect
    import warnings

    import diffusers
    from diffusers import DiffusionPipeline

    names = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in dir(diffusers):
            try:
                cls = getattr(diffusers, name)
            except Exception:  # an optional backend that is not installed: not a class this environment can scale
                continue
            if (
                isinstance(cls, type)
                and issubclass(cls, DiffusionPipeline)
                and cls is not DiffusionPipeline
                and cls.__name__ == name
                and "vae" in inspect.signature(cls.__init__).parameters
            ):
                names.append(name)
    return sorted(names)
