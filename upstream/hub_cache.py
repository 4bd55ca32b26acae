"""A Hugging Face Hub cache that holds the tiny tokenizer diffusers' fast tests load, built offline.

diffusers' Stable Diffusion fast tests load `CLIPTokenizer.from_pretrained("hf-internal-testing/tiny-random-clip")`
from the Hub. The CI machines reach PyPI only, so this writes the generated tiny CLIP tokenizer of
`tests/fixtures.py` into a cache folder under that repository id; with `HF_HUB_CACHE` pointing at it and
`HF_HUB_OFFLINE=1` the tests load it without a download. It is not the Hub's tokenizer (a byte-level vocabulary of
514 tokens, no merges): tests that compare against hard-coded expected pixel values fail with it, patched or not.

With `--modular`, it also writes tiny stand-ins for the pipelines diffusers' modular tests of SDXL, SD3 and Flux load
(`hf-internal-testing/tiny-sdxl-modular`, `AlanPonnachan/tiny-sd3-modular`, `hf-internal-testing/tiny-flux-modular`,
`hf-internal-testing/tiny-flux-kontext-pipe`): classic pipelines of randomly initialised tiny components, saved with
`save_pretrained` (the modular pipelines load `model_index.json` repositories), with a generated T5 tokenizer. Their
weights are not the Hub's, so tests that compare against expected pixel values fail with them, patched or not. Only
the manual runs of diffusers' modular tests need them (see `upstream/PR.md`); `check.py` does not.

Usage: `python upstream/hub_cache.py [--modular] CACHE_DIR` (exits non-zero on error).
"""

from __future__ import annotations

import os
import shutil
import sys


REPO_IDS = ("hf-internal-testing/tiny-random-clip",)
# Any 40-hex revision: the offline cache resolves `refs/main` to the snapshot folder of that name.
REVISION = "0" * 40


def populate(cache_dir: str) -> None:
    """Writes the tiny tokenizer under each repository id of `REPO_IDS` in the Hub cache layout at `cache_dir`."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))
    from fixtures import tokenizer_dir

    source = tokenizer_dir()
    for repo_id in REPO_IDS:
        repo_dir = os.path.join(cache_dir, "models--" + repo_id.replace("/", "--"))
        snapshot = os.path.join(repo_dir, "snapshots", REVISION)
        os.makedirs(snapshot, exist_ok=True)
        os.makedirs(os.path.join(repo_dir, "refs"), exist_ok=True)
        with open(os.path.join(repo_dir, "refs", "main"), "w") as f:
            f.write(REVISION)
        for name in os.listdir(source):
            shutil.copyfile(os.path.join(source, name), os.path.join(snapshot, name))


def _snapshot(cache_dir: str, repo_id: str) -> str:
    repo_dir = os.path.join(cache_dir, "models--" + repo_id.replace("/", "--"))
    shutil.rmtree(repo_dir, ignore_errors=True)
    os.makedirs(os.path.join(repo_dir, "refs"))
    with open(os.path.join(repo_dir, "refs", "main"), "w") as f:
        f.write(REVISION)
    return os.path.join(repo_dir, "snapshots", REVISION)


def populate_modular(cache_dir: str) -> None:
    """Writes the tiny SDXL, SD3, Flux and Flux Kontext pipelines diffusers' modular tests load (see the docstring)."""
    import torch
    from diffusers import (
        AutoencoderKL,
        EulerDiscreteScheduler,
        FlowMatchEulerDiscreteScheduler,
        FluxKontextPipeline,
        FluxPipeline,
        FluxTransformer2DModel,
        SD3Transformer2DModel,
        StableDiffusion3Pipeline,
        StableDiffusionXLPipeline,
        UNet2DConditionModel,
    )
    from transformers import (
        CLIPTextConfig,
        CLIPTextModel,
        CLIPTextModelWithProjection,
        T5Config,
        T5EncoderModel,
        T5Tokenizer,
    )

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))
    from fixtures import tiny_tokenizer

    def clip(cls):
        torch.manual_seed(0)
        config = CLIPTextConfig(
            bos_token_id=0, eos_token_id=2, hidden_size=32, intermediate_size=37, num_attention_heads=4,
            num_hidden_layers=5, pad_token_id=1, vocab_size=1000, hidden_act="gelu", projection_dim=32,
        )  # fmt: skip
        return cls(config)

    def t5():
        torch.manual_seed(0)
        config = T5Config(
            vocab_size=128, d_model=32, d_kv=8, d_ff=37, num_layers=2, num_heads=4, relative_attention_num_buckets=8
        )
        return T5EncoderModel(config), T5Tokenizer(
            vocab=[("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)] + [(chr(i), -1.0) for i in range(32, 127)],
            extra_ids=0,
        )

    def vae(**config):
        torch.manual_seed(0)
        return AutoencoderKL(
            block_out_channels=[32, 64], down_block_types=["DownEncoderBlock2D"] * 2,
            up_block_types=["UpDecoderBlock2D"] * 2, latent_channels=4, sample_size=128, **config,
        )  # fmt: skip

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64), layers_per_block=2, sample_size=32, in_channels=4, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4), use_linear_projection=True, addition_embed_type="text_time",
        addition_time_embed_dim=8, transformer_layers_per_block=(1, 2), projection_class_embeddings_input_dim=80,
        cross_attention_dim=64, norm_num_groups=1,
    )  # fmt: skip
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, steps_offset=1, beta_schedule="scaled_linear", timestep_spacing="leading"
    )
    StableDiffusionXLPipeline(
        vae=vae(), text_encoder=clip(CLIPTextModel), text_encoder_2=clip(CLIPTextModelWithProjection),
        tokenizer=tiny_tokenizer(), tokenizer_2=tiny_tokenizer(), unet=unet, scheduler=scheduler,
    ).save_pretrained(_snapshot(cache_dir, "hf-internal-testing/tiny-sdxl-modular"))  # fmt: skip

    shifted = {"shift_factor": 0.0609, "scaling_factor": 1.5035, "use_quant_conv": False, "use_post_quant_conv": False}
    torch.manual_seed(0)
    transformer = SD3Transformer2DModel(
        sample_size=32, patch_size=1, in_channels=4, num_layers=1, attention_head_dim=8, num_attention_heads=4,
        caption_projection_dim=32, joint_attention_dim=32, pooled_projection_dim=64, out_channels=4,
    )  # fmt: skip
    text_encoder_3, tokenizer_3 = t5()
    StableDiffusion3Pipeline(
        transformer=transformer, scheduler=FlowMatchEulerDiscreteScheduler(), vae=vae(**shifted),
        text_encoder=clip(CLIPTextModelWithProjection), tokenizer=tiny_tokenizer(),
        text_encoder_2=clip(CLIPTextModelWithProjection), tokenizer_2=tiny_tokenizer(),
        text_encoder_3=text_encoder_3, tokenizer_3=tokenizer_3,
    ).save_pretrained(_snapshot(cache_dir, "AlanPonnachan/tiny-sd3-modular"))  # fmt: skip

    for repo_id, pipeline_class in [
        ("hf-internal-testing/tiny-flux-modular", FluxPipeline),
        ("hf-internal-testing/tiny-flux-kontext-pipe", FluxKontextPipeline),
    ]:
        torch.manual_seed(0)
        transformer = FluxTransformer2DModel(
            patch_size=1, in_channels=16, num_layers=1, num_single_layers=1, attention_head_dim=16,
            num_attention_heads=2, joint_attention_dim=32, pooled_projection_dim=32, axes_dims_rope=[4, 4, 8],
        )  # fmt: skip
        text_encoder_2, tokenizer_2 = t5()
        pipeline_class(
            transformer=transformer, scheduler=FlowMatchEulerDiscreteScheduler(), vae=vae(**shifted),
            text_encoder=clip(CLIPTextModel), tokenizer=tiny_tokenizer(), text_encoder_2=text_encoder_2,
            tokenizer_2=tokenizer_2,
        ).save_pretrained(_snapshot(cache_dir, repo_id))  # fmt: skip


if __name__ == "__main__":
    arguments = sys.argv[1:]
    modular = "--modular" in arguments
    arguments = [argument for argument in arguments if argument != "--modular"]
    if len(arguments) != 1:
        sys.exit("usage: python upstream/hub_cache.py [--modular] CACHE_DIR")
    populate(arguments[0])
    if modular:
        populate_modular(arguments[0])
