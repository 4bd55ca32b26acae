"""Tiny models and inputs for the test-suite, built from configs: nothing is downloaded.

The component configs follow diffusers' own fast pipeline tests, made smaller where a test only needs the plumbing.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import signal
import sys
import tempfile
from functools import lru_cache

import numpy as np
import PIL.Image
import torch
from diffusers import (
    AsymmetricAutoencoderKL,
    AutoencoderDC,
    AutoencoderKL,
    AutoencoderTiny,
    ConsistencyDecoderVAE,
    DDIMScheduler,
    EulerDiscreteScheduler,
    FlowMatchEulerDiscreteScheduler,
    FluxTransformer2DModel,
    PixArtTransformer2DModel,
    SD3Transformer2DModel,
    UNet2DConditionModel,
    VQModel,
)
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer


PROMPT = "A painting of a squirrel eating a burger"


def _bytes_to_unicode() -> list[str]:
    # GPT-2/CLIP's reversible byte -> printable unicode table.
    bs = (
        list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    )
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for c in cs]


@lru_cache(maxsize=None)
def tokenizer_dir() -> str:
    """A folder with the files of a tiny byte-level CLIP tokenizer (no merges beyond single characters), written once
    per test session: every character and its end-of-word form is a token."""
    chars = _bytes_to_unicode()
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for token in chars + [c + "</w>" for c in chars]:
        vocab.setdefault(token, len(vocab))
    folder = tempfile.mkdtemp(prefix="tiny-clip-tokenizer-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    with open(os.path.join(folder, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(vocab, f)
    with open(os.path.join(folder, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n")
    with open(os.path.join(folder, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump({"model_max_length": 77, "tokenizer_class": "CLIPTokenizer"}, f)
    return folder


def tiny_tokenizer() -> CLIPTokenizer:
    return CLIPTokenizer.from_pretrained(tokenizer_dir())


def _text_encoder_config(**overrides) -> CLIPTextConfig:
    config = {
        "bos_token_id": 0,
        "eos_token_id": 1,
        "hidden_size": 32,
        "intermediate_size": 37,
        "layer_norm_eps": 1e-05,
        "num_attention_heads": 4,
        "num_hidden_layers": 2,
        "pad_token_id": 1,
        "vocab_size": 600,
    }
    config.update(overrides)
    return CLIPTextConfig(**config)


def tiny_vae_kl(**overrides) -> AutoencoderKL:
    """An AutoencoderKL with a scale factor of 2 and SD's `scaling_factor`."""
    torch.manual_seed(0)
    config = {
        "block_out_channels": [4, 8],
        "in_channels": 3,
        "out_channels": 3,
        "down_block_types": ["DownEncoderBlock2D", "DownEncoderBlock2D"],
        "up_block_types": ["UpDecoderBlock2D", "UpDecoderBlock2D"],
        "latent_channels": 4,
        "norm_num_groups": 2,
        "sample_size": 32,
    }
    config.update(overrides)
    return AutoencoderKL(**config)


def tiny_vae_tiny(**overrides) -> AutoencoderTiny:
    """An AutoencoderTiny (TAESD architecture) with a scale factor of 2."""
    torch.manual_seed(0)
    config = {
        "in_channels": 3,
        "out_channels": 3,
        "encoder_block_out_channels": (8, 8),
        "decoder_block_out_channels": (8, 8),
        "num_encoder_blocks": (1, 1),
        "num_decoder_blocks": (1, 1),
        "latent_channels": 4,
    }
    config.update(overrides)
    return AutoencoderTiny(**config)


def tiny_vae_vq(**overrides) -> VQModel:
    """A VQModel with a scale factor of 2 and 4 latent channels (a codebook of 16 entries)."""
    torch.manual_seed(0)
    config = {
        "block_out_channels": [4, 8],
        "in_channels": 3,
        "out_channels": 3,
        "down_block_types": ["DownEncoderBlock2D", "DownEncoderBlock2D"],
        "up_block_types": ["UpDecoderBlock2D", "UpDecoderBlock2D"],
        "latent_channels": 4,
        "num_vq_embeddings": 16,
        "norm_num_groups": 2,
        "sample_size": 32,
    }
    config.update(overrides)
    return VQModel(**config)


def tiny_vae_asymmetric(**overrides) -> AsymmetricAutoencoderKL:
    """An AsymmetricAutoencoderKL with a scale factor of 2 (values of diffusers' fast tests)."""
    torch.manual_seed(0)
    config = {
        "in_channels": 3,
        "out_channels": 3,
        "down_block_types": ["DownEncoderBlock2D", "DownEncoderBlock2D"],
        "down_block_out_channels": [4, 8],
        "layers_per_down_block": 1,
        "up_block_types": ["UpDecoderBlock2D", "UpDecoderBlock2D"],
        "up_block_out_channels": [4, 8],
        "layers_per_up_block": 1,
        "act_fn": "silu",
        "latent_channels": 4,
        "norm_num_groups": 2,
        "sample_size": 32,
        "scaling_factor": 0.18215,
    }
    config.update(overrides)
    return AsymmetricAutoencoderKL(**config)


def tiny_vae_consistency(**overrides) -> ConsistencyDecoderVAE:
    """A ConsistencyDecoderVAE with a scale factor of 2 (values of diffusers' fast tests). Its decoder samples: decode
    needs a generator to be reproducible."""
    torch.manual_seed(0)
    config = {
        "encoder_block_out_channels": [2, 4],
        "encoder_in_channels": 3,
        "encoder_out_channels": 4,
        "encoder_down_block_types": ["DownEncoderBlock2D", "DownEncoderBlock2D"],
        "decoder_add_attention": False,
        "decoder_block_out_channels": [2, 4],
        "decoder_down_block_types": ["ResnetDownsampleBlock2D", "ResnetDownsampleBlock2D"],
        "decoder_downsample_padding": 1,
        "decoder_in_channels": 7,
        "decoder_layers_per_block": 1,
        "decoder_norm_eps": 1e-05,
        "decoder_norm_num_groups": 2,
        "encoder_norm_num_groups": 2,
        "decoder_num_train_timesteps": 1024,
        "decoder_out_channels": 6,
        "decoder_resnet_time_scale_shift": "scale_shift",
        "decoder_time_embedding_type": "learned",
        "decoder_up_block_types": ["ResnetUpsampleBlock2D", "ResnetUpsampleBlock2D"],
        "scaling_factor": 1,
        "latent_channels": 4,
    }
    config.update(overrides)
    return ConsistencyDecoderVAE(**config)


def tiny_vae_dc(**overrides) -> AutoencoderDC:
    """An AutoencoderDC (Sana's deep-compression autoencoder) with a scale factor of 2 (values of diffusers' fast
    tests). Its config has no `block_out_channels`: use it with the Sana pipelines."""
    torch.manual_seed(0)
    config = {
        "in_channels": 3,
        "latent_channels": 4,
        "attention_head_dim": 2,
        "encoder_block_types": ("ResBlock", "EfficientViTBlock"),
        "decoder_block_types": ("ResBlock", "EfficientViTBlock"),
        "encoder_block_out_channels": (8, 8),
        "decoder_block_out_channels": (8, 8),
        "encoder_qkv_multiscales": ((), (5,)),
        "decoder_qkv_multiscales": ((), (5,)),
        "encoder_layers_per_block": (1, 1),
        "decoder_layers_per_block": [1, 1],
        "downsample_block_type": "conv",
        "upsample_block_type": "interpolate",
        "decoder_norm_types": "rms_norm",
        "decoder_act_fns": "silu",
        "scaling_factor": 0.41407,
    }
    config.update(overrides)
    return AutoencoderDC(**config)


# VAEs that fit the Stable Diffusion pipelines (their config has `block_out_channels`).
VAE_FACTORIES = {
    "kl": tiny_vae_kl,
    "tiny": tiny_vae_tiny,
    "vq": tiny_vae_vq,
    "asymmetric": tiny_vae_asymmetric,
    "consistency": tiny_vae_consistency,
}


def sd_components(vae: str = "kl", unet_in_channels: int = 4) -> dict:
    """Components of a tiny Stable Diffusion 1.x pipeline (text-to-image, img2img; inpainting with
    `unet_in_channels=9`)."""
    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(4, 8),
        layers_per_block=1,
        sample_size=16,
        in_channels=unet_in_channels,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
        norm_num_groups=2,
    )
    scheduler = DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )
    torch.manual_seed(0)
    text_encoder = CLIPTextModel(_text_encoder_config())
    return {
        "unet": unet,
        "scheduler": scheduler,
        "vae": VAE_FACTORIES[vae](),
        "text_encoder": text_encoder,
        "tokenizer": tiny_tokenizer(),
        "safety_checker": None,
        "feature_extractor": None,
        "image_encoder": None,
        "requires_safety_checker": False,
    }


def sd_inpaint_components(vae: str = "kl") -> dict:
    """Components of a tiny Stable Diffusion 1.x inpainting pipeline: its UNet takes latents, mask and masked-image
    latents (4 + 1 + 4 channels)."""
    return sd_components(vae, unet_in_channels=9)


def sdxl_components(vae: str = "kl", text_encoder_2_hidden_size: int = 32) -> dict:
    """Components of a tiny Stable Diffusion XL pipeline (text-to-image, img2img, inpainting).

    `text_encoder_2_hidden_size` other than the first encoder's 32 lets `from_single_file` tell the two encoders apart
    (it compares their widths, which differ in real SDXL checkpoints)."""
    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(2, 4),
        layers_per_block=1,
        sample_size=16,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=8,
        transformer_layers_per_block=(1, 1),
        projection_class_embeddings_input_dim=80,  # 6 * 8 + 32
        cross_attention_dim=32 + text_encoder_2_hidden_size,  # the two encoders' hidden states, concatenated
        norm_num_groups=1,
    )
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, steps_offset=1, beta_schedule="scaled_linear", timestep_spacing="leading"
    )
    torch.manual_seed(0)
    text_encoder = CLIPTextModel(_text_encoder_config(hidden_act="gelu", projection_dim=32))
    torch.manual_seed(0)
    text_encoder_2 = CLIPTextModelWithProjection(
        _text_encoder_config(hidden_act="gelu", projection_dim=32, hidden_size=text_encoder_2_hidden_size)
    )
    vae_model = VAE_FACTORIES[vae]()
    if vae == "kl":
        vae_model.register_to_config(scaling_factor=0.13025)
    return {
        "unet": unet,
        "scheduler": scheduler,
        "vae": vae_model,
        "text_encoder": text_encoder,
        "tokenizer": tiny_tokenizer(),
        "text_encoder_2": text_encoder_2,
        "tokenizer_2": tiny_tokenizer(),
        "image_encoder": None,
        "feature_extractor": None,
    }


def tiny_vae_shifted(**overrides) -> AutoencoderKL:
    """The SD3/Flux kind of AutoencoderKL: a `shift_factor`, no quant convolutions (values of diffusers' fast tests)."""
    config = {"shift_factor": 0.0609, "scaling_factor": 1.5035, "use_quant_conv": False, "use_post_quant_conv": False}
    config.update(overrides)
    return tiny_vae_kl(**config)


def sd3_components(latent_channels: int = 4) -> dict:
    """Components of a tiny Stable Diffusion 3 pipeline (text-to-image, img2img; inpainting, which accepts only SD3's
    own 16 latent channels, with `latent_channels=16`). The T5 encoder is left out: the pipeline then uses zeros for
    its embeddings, which is what SD3 supports without `text_encoder_3`."""
    torch.manual_seed(0)
    transformer = SD3Transformer2DModel(
        sample_size=32,
        patch_size=1,
        in_channels=latent_channels,
        num_layers=1,
        attention_head_dim=8,
        num_attention_heads=4,
        caption_projection_dim=32,
        joint_attention_dim=32,
        pooled_projection_dim=64,
        out_channels=latent_channels,
    )
    torch.manual_seed(0)
    text_encoder = CLIPTextModelWithProjection(_text_encoder_config(hidden_act="gelu", projection_dim=32))
    torch.manual_seed(0)
    text_encoder_2 = CLIPTextModelWithProjection(_text_encoder_config(hidden_act="gelu", projection_dim=32))
    return {
        "transformer": transformer,
        "scheduler": FlowMatchEulerDiscreteScheduler(),
        "vae": tiny_vae_shifted(latent_channels=latent_channels),
        "text_encoder": text_encoder,
        "tokenizer": tiny_tokenizer(),
        "text_encoder_2": text_encoder_2,
        "tokenizer_2": tiny_tokenizer(),
        "text_encoder_3": None,
        "tokenizer_3": None,
    }


def flux_components(in_channels: int = 16) -> dict:
    """Components of a tiny Flux pipeline (text-to-image, img2img) without text encoders: pass
    `flux_prompt_embeds()` to the call instead of a prompt (Flux needs a T5 tokenizer for prompts). `in_channels`: the
    transformer's input when the pipeline concatenates conditions to the packed latents (Fill 48, Control 32); its
    output stays 16."""
    torch.manual_seed(0)
    transformer = FluxTransformer2DModel(
        patch_size=1,
        in_channels=in_channels,  # 4 latent channels packed in 2x2 patches (16), and any conditions
        out_channels=16,
        num_layers=1,
        num_single_layers=1,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=32,
        pooled_projection_dim=32,
        axes_dims_rope=[4, 4, 8],
    )
    return {
        "transformer": transformer,
        "scheduler": FlowMatchEulerDiscreteScheduler(),
        "vae": tiny_vae_shifted(),
        "text_encoder": None,
        "tokenizer": None,
        "text_encoder_2": None,
        "tokenizer_2": None,
    }


def flux_prompt_embeds(batch_size: int = 1, seed: int = 0) -> dict:
    """`prompt_embeds` / `pooled_prompt_embeds` for `flux_components()` pipelines."""
    g = torch.Generator("cpu").manual_seed(seed)
    return {
        "prompt_embeds": torch.randn(batch_size, 8, 32, generator=g),
        "pooled_prompt_embeds": torch.randn(batch_size, 32, generator=g),
    }


def pixart_sigma_components(sample_size: int = 16) -> dict:
    """Components of a tiny PixArt-Sigma pipeline without its T5 text encoder: pass `pixart_prompt_embeds()` to the
    call (with `guidance_scale=1.0`) instead of a prompt. `sample_size` 32 lets the call bin its resolution (its
    smallest table: 256x256 and its aspect ratios)."""
    torch.manual_seed(0)
    transformer = PixArtTransformer2DModel(
        sample_size=sample_size,
        num_layers=1,
        patch_size=2,
        attention_head_dim=8,
        num_attention_heads=3,
        caption_channels=32,
        in_channels=4,
        cross_attention_dim=24,
        out_channels=8,
        attention_bias=True,
        activation_fn="gelu-approximate",
        num_embeds_ada_norm=1000,
        norm_type="ada_norm_single",
        norm_elementwise_affine=False,
        norm_eps=1e-6,
    )
    return {
        "transformer": transformer,
        "vae": tiny_vae_kl(),
        "scheduler": DDIMScheduler(),
        "text_encoder": None,
        "tokenizer": None,
    }


def pixart_prompt_embeds(batch_size: int = 1, seed: int = 0) -> dict:
    """`prompt_embeds` / `prompt_attention_mask` for `pixart_sigma_components()` pipelines."""
    g = torch.Generator("cpu").manual_seed(seed)
    return {
        "prompt_embeds": torch.randn(batch_size, 8, 32, generator=g),
        "prompt_attention_mask": torch.ones(batch_size, 8, dtype=torch.long),
    }


def sana_components(sample_size: int = 32) -> dict:
    """Components of a tiny Sana pipeline (AutoencoderDC) without its Gemma text encoder: pass
    `sana_prompt_embeds()` to the call (with `guidance_scale=1.0`) instead of a prompt. `sample_size` 16 gives the
    smallest resolution-binning table (512x512 and its aspect ratios)."""
    from diffusers import SanaTransformer2DModel

    torch.manual_seed(0)
    transformer = SanaTransformer2DModel(
        patch_size=1,
        in_channels=4,
        out_channels=4,
        num_layers=1,
        num_attention_heads=2,
        attention_head_dim=4,
        num_cross_attention_heads=2,
        cross_attention_head_dim=4,
        cross_attention_dim=8,
        caption_channels=8,
        sample_size=sample_size,
    )
    return {
        "transformer": transformer,
        "vae": tiny_vae_dc(),
        "scheduler": FlowMatchEulerDiscreteScheduler(shift=7.0),
        "text_encoder": None,
        "tokenizer": None,
    }


def sana_prompt_embeds(batch_size: int = 1, seed: int = 0) -> dict:
    """`prompt_embeds` / `prompt_attention_mask` for `sana_components()` pipelines."""
    g = torch.Generator("cpu").manual_seed(seed)
    return {
        "prompt_embeds": torch.randn(batch_size, 8, 8, generator=g),
        "prompt_attention_mask": torch.ones(batch_size, 8, dtype=torch.long),
    }


# --- image families of issue 13 (Qwen-Image, Flux.2, Z-Image) ---------------------------------------------------------
# Configs from diffusers' fast tests (tests/pipelines/{qwenimage,flux2,z_image}), smaller where only the plumbing
# matters. No text encoders: the tests pass prompt embeddings. Non-trivial statistics everywhere.


def _without_text_encoder(transformer, vae, scheduler=None) -> dict:
    """Components of a transformer pipeline whose tests pass prompt embeddings instead of a text encoder."""
    return {
        "transformer": transformer,
        "vae": vae,
        "scheduler": scheduler or FlowMatchEulerDiscreteScheduler(),
        "text_encoder": None,
        "tokenizer": None,
    }


def qwenimage_components(edit: bool = False) -> dict:
    """`QwenImagePipeline` / `QwenImageImg2ImgPipeline` components (with `edit`, `QwenImageEditPipeline`'s: a
    `processor` slot too). `AutoencoderKLQwenImage` has a scale factor of 4 and 5-D latents (one frame for images);
    per-channel `latents_mean`/`latents_std`, no `scaling_factor`."""
    from diffusers import AutoencoderKLQwenImage, QwenImageTransformer2DModel

    torch.manual_seed(0)
    transformer = QwenImageTransformer2DModel(
        patch_size=2,
        in_channels=16,
        out_channels=4,
        num_layers=1,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=16,
        guidance_embeds=False,
        axes_dims_rope=(8, 4, 4),
    )
    torch.manual_seed(0)
    mean, std = _channel_statistics(4, seed=11)
    vae = AutoencoderKLQwenImage(
        base_dim=24,
        z_dim=4,
        dim_mult=[1, 2, 4],
        num_res_blocks=1,
        temperal_downsample=[False, True],
        latents_mean=mean,
        latents_std=std,
    )
    components = _without_text_encoder(transformer, vae)
    if edit:
        components["processor"] = None
    return components


def qwenimage_prompt_embeds(batch_size: int = 1, seed: int = 0) -> dict:
    """`prompt_embeds` / `prompt_embeds_mask` for `qwenimage_components()` pipelines."""
    g = torch.Generator("cpu").manual_seed(seed)
    return {
        "prompt_embeds": torch.randn(batch_size, 8, 16, generator=g),
        "prompt_embeds_mask": torch.ones(batch_size, 8, dtype=torch.long),
    }


def flux2_components() -> dict:
    """`Flux2Pipeline` components: an `AutoencoderKLFlux2` with a scale factor of 2 and 2 latent channels, whose
    BatchNorm running statistics (where Flux.2 keeps its latent statistics) are set to non-default values."""
    from diffusers import AutoencoderKLFlux2, Flux2Transformer2DModel

    torch.manual_seed(0)
    transformer = Flux2Transformer2DModel(
        patch_size=1,
        in_channels=8,  # 2 latent channels patchified 2x2
        num_layers=1,
        num_single_layers=1,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=16,
        timestep_guidance_channels=256,
        axes_dims_rope=[4, 4, 4, 4],
    )
    torch.manual_seed(0)
    vae = AutoencoderKLFlux2(
        sample_size=32,
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        block_out_channels=(4, 8),
        layers_per_block=1,
        latent_channels=2,
        norm_num_groups=1,
        use_quant_conv=False,
        use_post_quant_conv=False,
    )
    mean, std = _channel_statistics(8, seed=12)
    with torch.no_grad():
        vae.bn.running_mean.copy_(torch.tensor(mean))
        vae.bn.running_var.copy_(torch.tensor(std) ** 2)
    return _without_text_encoder(transformer, vae)


def flux2_prompt_embeds(batch_size: int = 1, seed: int = 0) -> dict:
    """`prompt_embeds` for `flux2_components()` pipelines."""
    g = torch.Generator("cpu").manual_seed(seed)
    return {"prompt_embeds": torch.randn(batch_size, 8, 16, generator=g)}


def z_image_components() -> dict:
    """`ZImagePipeline` / `ZImageImg2ImgPipeline` components: an AutoencoderKL with Z-Image's kind of config (a
    `scaling_factor` and a `shift_factor`), 16 latent channels as the transformer requires."""
    from diffusers import ZImageTransformer2DModel

    torch.manual_seed(0)
    transformer = ZImageTransformer2DModel(
        all_patch_size=(2,),
        all_f_patch_size=(1,),
        in_channels=16,
        dim=32,
        n_layers=1,
        n_refiner_layers=1,
        n_heads=2,
        n_kv_heads=2,
        norm_eps=1e-5,
        qk_norm=True,
        cap_feat_dim=16,
        rope_theta=256.0,
        t_scale=1000.0,
        axes_dims=[8, 4, 4],
        axes_lens=[256, 32, 32],
    )
    with torch.no_grad():  # initialized with torch.empty (diffusers' fast tests fix them the same way)
        transformer.x_pad_token.copy_(torch.ones_like(transformer.x_pad_token.data))
        transformer.cap_pad_token.copy_(torch.ones_like(transformer.cap_pad_token.data))
    vae = tiny_vae_kl(latent_channels=16, scaling_factor=0.3611, shift_factor=0.1159)
    return _without_text_encoder(transformer, vae)


def z_image_prompt_embeds(batch_size: int = 1, seed: int = 0) -> dict:
    """`prompt_embeds` (a list of `(length, 16)` tensors) for `z_image_components()` pipelines."""
    g = torch.Generator("cpu").manual_seed(seed)
    return {"prompt_embeds": [torch.randn(8, 16, generator=g) for _ in range(batch_size)]}


def chroma_components() -> dict:
    """`ChromaPipeline` / `ChromaImg2ImgPipeline` components: Flux's VAE (shift and factor), no T5 encoder."""
    from diffusers import ChromaTransformer2DModel

    torch.manual_seed(0)
    transformer = ChromaTransformer2DModel(
        patch_size=1,
        in_channels=16,
        num_layers=1,
        num_single_layers=1,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=32,
        axes_dims_rope=[4, 4, 8],
        approximator_hidden_dim=32,
        approximator_layers=1,
        approximator_num_channels=16,
    )
    return _without_text_encoder(transformer, tiny_vae_shifted())


def lumina2_components() -> dict:
    """`Lumina2Pipeline` components: an AutoencoderKL with a shift, no Gemma encoder."""
    from diffusers import Lumina2Transformer2DModel

    torch.manual_seed(0)
    transformer = Lumina2Transformer2DModel(
        sample_size=4,
        patch_size=2,
        in_channels=4,
        hidden_size=8,
        num_layers=1,
        num_refiner_layers=1,
        num_attention_heads=1,
        num_kv_heads=1,
        multiple_of=16,
        norm_eps=1e-5,
        axes_dim_rope=(4, 2, 2),
        axes_lens=(128, 128, 128),
        cap_feat_dim=8,
    )
    return _without_text_encoder(transformer, tiny_vae_shifted())


def cogview4_components() -> dict:
    """`CogView4Pipeline` components: an AutoencoderKL with a `scaling_factor` only, no GLM encoder."""
    from diffusers import CogView4Transformer2DModel

    torch.manual_seed(0)
    transformer = CogView4Transformer2DModel(
        patch_size=2,
        in_channels=4,
        num_layers=1,
        attention_head_dim=4,
        num_attention_heads=4,
        out_channels=4,
        text_embed_dim=32,
        time_embed_dim=8,
        condition_dim=4,
    )
    scheduler = FlowMatchEulerDiscreteScheduler(
        base_shift=0.25, max_shift=0.75, base_image_seq_len=256, use_dynamic_shifting=True, time_shift_type="linear"
    )
    return _without_text_encoder(transformer, tiny_vae_kl(scaling_factor=0.3611), scheduler)


# --- more image families of issue 13 (HiDream, HunyuanImage 2.1 and its refiner, ...) ------------------------------
# Configs after diffusers' fast tests (tests/pipelines/{hidream_image,hunyuan_image_21}), smaller where only the plumbing
# matters; no text encoders (the tests pass prompt embeddings).


def hidream_components() -> dict:
    """`HiDreamImagePipeline` components: Flux's kind of AutoencoderKL (a `scaling_factor` and a `shift_factor`), no
    CLIP / T5 / Llama encoders. Its `__call__` generates at an area of `(default_sample_size * vae_scale_factor) ** 2`
    pixels whatever the call's height and width (it rescales them): set `default_sample_size` on the pipeline to keep
    a test small."""
    from diffusers import HiDreamImageTransformer2DModel

    torch.manual_seed(0)
    transformer = HiDreamImageTransformer2DModel(
        patch_size=2,
        in_channels=4,
        out_channels=4,
        num_layers=1,
        num_single_layers=1,
        attention_head_dim=8,
        num_attention_heads=2,
        caption_channels=[32, 16],  # T5, Llama
        text_emb_dim=32,
        num_routed_experts=2,
        num_activated_experts=1,
        axes_dims_rope=(4, 2, 2),
        max_resolution=(32, 32),
        llama_layers=(0, 1),
    ).eval()
    components = _without_text_encoder(transformer, tiny_vae_kl(scaling_factor=0.3611, shift_factor=0.1159))
    others = ("text_encoder_2", "tokenizer_2", "text_encoder_3", "tokenizer_3", "text_encoder_4", "tokenizer_4")
    return {**components, **dict.fromkeys(others)}


def hidream_prompt_embeds(batch_size: int = 1, seed: int = 0) -> dict:
    """T5 and Llama embeddings (the Llama ones stacked per layer) and the pooled CLIP embeddings for
    `hidream_components()` pipelines."""
    g = torch.Generator("cpu").manual_seed(seed)
    return {
        "prompt_embeds_t5": torch.randn(batch_size, 8, 32, generator=g),
        "prompt_embeds_llama3": torch.randn(2, batch_size, 8, 16, generator=g),
        "pooled_prompt_embeds": torch.randn(batch_size, 32, generator=g),
    }


# The transformer shape both HunyuanImage 2.1 pipelines share.
_HUNYUAN_IMAGE_TRANSFORMER = {
    "num_attention_heads": 2,
    "attention_head_dim": 8,
    "num_layers": 1,
    "num_single_layers": 1,
    "num_refiner_layers": 1,
    "text_embed_dim": 32,
}


def hunyuan_image_components(refiner: bool = False) -> dict:
    """`HunyuanImagePipeline` components (with `refiner`, `HunyuanImageRefinerPipeline`'s): the HunyuanImage 2.1 VAE
    (`AutoencoderKLHunyuanImage`, 32x compression in the real model, 4x here) or the refiner's 5-D one, each with a
    `scaling_factor` that is not 1; no Qwen2.5-VL / ByT5 encoders, no guiders (the pipeline then guides with none)."""
    from diffusers import AutoencoderKLHunyuanImage, AutoencoderKLHunyuanImageRefiner, HunyuanImageTransformer2DModel

    shape = {"block_out_channels": (32, 32, 32), "layers_per_block": 1, "spatial_compression_ratio": 4}
    torch.manual_seed(0)
    if refiner:  # the refiner's transformer takes the noisy and the image latents, each 2 x 4 folded channels
        transformer = HunyuanImageTransformer2DModel(
            in_channels=16,
            out_channels=8,
            patch_size=(1, 1, 1),
            rope_axes_dim=(4, 2, 2),
            guidance_embeds=True,
            **_HUNYUAN_IMAGE_TRANSFORMER,
        )
        torch.manual_seed(0)
        vae = AutoencoderKLHunyuanImageRefiner(
            latent_channels=4, temporal_compression_ratio=2, scaling_factor=0.7, **shape
        )
    else:
        transformer = HunyuanImageTransformer2DModel(
            in_channels=4,
            out_channels=4,
            patch_size=(1, 1),
            rope_axes_dim=(4, 4),
            text_embed_2_dim=32,
            **_HUNYUAN_IMAGE_TRANSFORMER,
        )
        torch.manual_seed(0)
        vae = AutoencoderKLHunyuanImage(
            in_channels=3, out_channels=3, latent_channels=4, scaling_factor=0.476986, sample_size=32, **shape
        )
    components = {
        **_without_text_encoder(transformer, vae, FlowMatchEulerDiscreteScheduler(shift=7.0)),
        "guider": None,
    }
    return components if refiner else {**components, "text_encoder_2": None, "tokenizer_2": None, "ocr_guider": None}


def hunyuan_image_prompt_embeds(refiner: bool = False, seed: int = 0) -> dict:
    """Qwen2.5-VL embeddings and mask (and for the base pipeline, ByT5 glyph embeddings and mask) for
    `hunyuan_image_components()` pipelines."""
    g = torch.Generator("cpu").manual_seed(seed)
    embeds = {
        "prompt_embeds": torch.randn(1, 8, 32, generator=g),
        "prompt_embeds_mask": torch.ones(1, 8, dtype=torch.long),
    }
    if not refiner:
        embeds.update(
            prompt_embeds_2=torch.randn(1, 8, 32, generator=g), prompt_embeds_mask_2=torch.ones(1, 8, dtype=torch.long)
        )
    return embeds


def qwenimage_controlnet(extra_condition_channels: int = 0):
    """A `QwenImageControlNetModel` shaped like `qwenimage_components()`' transformer; the inpainting pipeline's takes
    the mask as 4 extra packed channels."""
    from diffusers import QwenImageControlNetModel

    shape = ("patch_size", "in_channels", "out_channels", "num_layers", "attention_head_dim", "num_attention_heads")
    shape += ("joint_attention_dim", "axes_dims_rope")
    transformer = qwenimage_components()["transformer"]
    return shaped_like(QwenImageControlNetModel, transformer, shape, extra_condition_channels=extra_condition_channels)


def z_image_controlnet(control_in_dim: int = 16):
    """A `ZImageControlNetModel` shaped like `z_image_components()`' transformer (the pipelines attach the
    transformer's shared layers); the inpainting pipeline's control is the control image's latents, the mask and the
    masked image's latents (33 channels)."""
    from diffusers import ZImageControlNetModel

    torch.manual_seed(0)
    return ZImageControlNetModel(
        control_layers_places=[0],
        control_refiner_layers_places=[0],
        control_in_dim=control_in_dim,
        dim=32,
        n_refiner_layers=1,
        n_heads=2,
        n_kv_heads=2,
    )


def sana_sprint_components() -> dict:
    """`SanaSprintPipeline` components: `sana_components()` with a guidance-embedding, QK-normalized transformer and
    the SCM scheduler (whose `sigma_data` the pipeline divides out before it returns latents)."""
    from diffusers import SanaTransformer2DModel, SCMScheduler

    components = sana_components()
    config = {k: v for k, v in components["transformer"].config.items() if not k.startswith("_")}
    torch.manual_seed(0)
    config.update(guidance_embeds=True, qk_norm="rms_norm_across_heads")
    return {**components, "transformer": SanaTransformer2DModel.from_config(config), "scheduler": SCMScheduler()}


def sana_controlnet():
    """A `SanaControlNetModel` shaped like `sana_components()`' transformer."""
    from diffusers import SanaControlNetModel

    shape = ("in_channels", "out_channels", "num_attention_heads", "attention_head_dim", "num_layers")
    shape += ("num_cross_attention_heads", "cross_attention_head_dim", "cross_attention_dim", "caption_channels")
    return shaped_like(SanaControlNetModel, sana_components()["transformer"], shape, sample_size=32)


def cogview4_control_components() -> dict:
    """`CogView4ControlPipeline` components: `cogview4_components()` with a transformer that takes the noisy latents
    and the control image's latents (8 channels)."""
    from diffusers import CogView4Transformer2DModel

    components = cogview4_components()
    config = {k: v for k, v in components["transformer"].config.items() if not k.startswith("_")}
    torch.manual_seed(0)
    return {**components, "transformer": CogView4Transformer2DModel.from_config({**config, "in_channels": 8})}


def ovis_image_components() -> dict:
    """`OvisImagePipeline` components: a Flux-shaped transformer and Flux's kind of VAE, no Qwen3 encoder (pass
    `text_embeds(1, 8, 32, None)`)."""
    from diffusers import OvisImageTransformer2DModel

    shape = ("patch_size", "in_channels", "out_channels", "num_layers", "num_single_layers", "attention_head_dim")
    shape += ("num_attention_heads", "joint_attention_dim", "axes_dims_rope")
    transformer = shaped_like(OvisImageTransformer2DModel, flux_components()["transformer"], shape)
    return _without_text_encoder(transformer, tiny_vae_shifted())


# AuraFlow, Lumina-Next and HunyuanDiT decode with the SDXL VAE's `scaling_factor` alone: their VAEs carry Playground
# v2.5's per-channel statistics (`PLAYGROUND_STATISTICS`, below), which a format applying them would not ignore.


def auraflow_components() -> dict:
    """`AuraFlowPipeline` components, no UMT5 encoder: pass `text_embeds(1, 8, 32)`."""
    from diffusers import AuraFlowTransformer2DModel

    torch.manual_seed(0)
    transformer = AuraFlowTransformer2DModel(
        sample_size=32,
        patch_size=2,
        in_channels=4,
        num_mmdit_layers=1,
        num_single_dit_layers=1,
        attention_head_dim=8,
        num_attention_heads=2,
        caption_projection_dim=16,
        joint_attention_dim=32,
        out_channels=4,
        pos_embed_max_size=256,
    )
    return _without_text_encoder(transformer, tiny_vae_kl(**PLAYGROUND_STATISTICS))


def lumina_components() -> dict:
    """`LuminaPipeline` (Lumina-Next) components, no Gemma encoder: pass `text_embeds(1, 8, 8)`."""
    from diffusers import LuminaNextDiT2DModel

    torch.manual_seed(0)
    transformer = LuminaNextDiT2DModel(
        sample_size=4,
        patch_size=2,
        in_channels=4,
        hidden_size=8,
        num_layers=1,
        num_attention_heads=1,
        num_kv_heads=1,
        multiple_of=16,
        cross_attention_dim=8,
    )
    return _without_text_encoder(transformer, tiny_vae_kl(**PLAYGROUND_STATISTICS))


def cogview3plus_components() -> dict:
    """`CogView3PlusPipeline` components: an AutoencoderKL with a `scaling_factor` only, no T5 encoder (pass
    `text_embeds(1, 8, 32, None)`)."""
    from diffusers import CogVideoXDDIMScheduler, CogView3PlusTransformer2DModel

    torch.manual_seed(0)
    transformer = CogView3PlusTransformer2DModel(
        patch_size=2,
        in_channels=4,
        num_layers=1,
        attention_head_dim=4,
        num_attention_heads=2,
        out_channels=4,
        text_embed_dim=32,
        time_embed_dim=8,
        condition_dim=2,
        pos_embed_max_size=16,
        sample_size=8,
    )
    return _without_text_encoder(transformer, tiny_vae_kl(scaling_factor=0.3611), CogVideoXDDIMScheduler())


def hunyuan_dit_components(controlnet: bool = False) -> dict:
    """`HunyuanDiTPipeline` / `HunyuanDiTPAGPipeline` components (with `controlnet`, `HunyuanDiTControlNetPipeline`'s),
    no BERT / T5 encoders (pass `hunyuan_dit_prompt_embeds()`). Its `__call__` sizes the rotary embeddings for SD's
    8x VAE: the VAE here has four blocks."""
    from diffusers import DDPMScheduler, HunyuanDiT2DControlNetModel, HunyuanDiT2DModel

    shape = {"sample_size": 16, "patch_size": 2, "attention_head_dim": 8, "num_attention_heads": 3, "in_channels": 4}
    shape.update(cross_attention_dim=32, cross_attention_dim_t5=32, pooled_projection_dim=16, hidden_size=24)
    shape.update(text_len=8, text_len_t5=8)
    torch.manual_seed(0)
    transformer = HunyuanDiT2DModel(num_layers=2, **shape)
    blocks = {"down_block_types": ["DownEncoderBlock2D"] * 4, "up_block_types": ["UpDecoderBlock2D"] * 4}
    vae = tiny_vae_kl(block_out_channels=[4, 4, 4, 4], **blocks, **PLAYGROUND_STATISTICS)
    components = _without_text_encoder(transformer, vae, DDPMScheduler())
    components.update(text_encoder_2=None, tokenizer_2=None, safety_checker=None, feature_extractor=None)
    if controlnet:
        torch.manual_seed(0)
        components["controlnet"] = HunyuanDiT2DControlNetModel(transformer_num_layers=2, **shape)
    return {**components, "requires_safety_checker": False}


def hunyuan_dit_prompt_embeds(negative: bool = False) -> dict:
    """BERT and T5 embeddings with their masks for `hunyuan_dit_components()` pipelines; with `negative`, the negative
    ones too (for classifier-free guidance)."""
    embeds = {}
    for prefix, seed in (("", 0), ("negative_", 2))[: 2 if negative else 1]:
        for suffix, offset in (("", 0), ("_2", 1)):
            pair = text_embeds(1, 8, 32, seed=seed + offset)
            embeds[f"{prefix}prompt_embeds{suffix}"] = pair["prompt_embeds"]
            embeds[f"{prefix}prompt_attention_mask{suffix}"] = pair["prompt_attention_mask"]
    return embeds


# --- SD / SDXL pipeline variants of issue 13 (ControlNet, PAG, T2I-Adapter, InstructPix2Pix, LCM, Kolors) -------------
# The base pipelines' components plus the variant's own model; each variant's tests filter them to its `__init__`.

# Playground v2.5's per-channel statistics and factor (its VAE config): an SDXL variant either applies them as the SDXL
# pipelines do or ignores them (the factor alone); a test with them tells which.
PLAYGROUND_STATISTICS = {
    "scaling_factor": 0.5,
    "latents_mean": [-1.6574, 1.886, -1.383, 2.5155],
    "latents_std": [8.4927, 5.9022, 6.5498, 5.2299],
}


def _with_unet(components: dict, **config) -> dict:
    """`components` with its UNet rebuilt from its config changed by `config` (same seed)."""
    unet_config = {k: v for k, v in components["unet"].config.items() if not k.startswith("_")}
    torch.manual_seed(0)
    return {**components, "unet": UNet2DConditionModel.from_config({**unet_config, **config})}


def tiny_controlnet(unet: UNet2DConditionModel, union: bool = False):
    """A ControlNet (or, with `union`, a ControlNet-Union) made from a 4-channel `unet`, as `from_unet` does: its
    conditioning embedding halves the image once, to the tiny VAE's latent size."""
    from diffusers import ControlNetModel, ControlNetUnionModel

    torch.manual_seed(0)
    if not union:
        return ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=(4, 8))
    # The union's control-type transformer works on the first block's channels (320 in SDXL, its default).
    controlnet = ControlNetUnionModel.from_unet(unet, conditioning_embedding_out_channels=(4, 8))
    width = unet.config.block_out_channels[0]
    torch.manual_seed(0)
    config = {k: v for k, v in controlnet.config.items() if not k.startswith("_")}
    return ControlNetUnionModel.from_config(
        {**config, "num_trans_channel": width, "num_trans_head": 1, "num_proj_channel": width}
    )


def sd_variant_components(
    inpaint: bool = False, controlnet: bool = False, unet_in_channels: int | None = None
) -> dict:
    """SD 1.x components for the variant pipelines: inpainting (9-channel UNet), a ControlNet, or a UNet with
    `unet_in_channels` (8 for InstructPix2Pix: latents and image latents)."""
    components = sd_inpaint_components() if inpaint else sd_components()
    if unet_in_channels is not None:
        components = _with_unet(components, in_channels=unet_in_channels)
    if controlnet:
        components["controlnet"] = tiny_controlnet(sd_components()["unet"])
    return components


def sdxl_variant_components(controlnet: str | None = None, unet_in_channels: int | None = None) -> dict:
    """SDXL components with Playground v2.5's statistics in the VAE config, for the variant pipelines: `controlnet`
    `"controlnet"` or `"union"`, or a UNet with `unet_in_channels` (8 for InstructPix2Pix)."""
    components = sdxl_components()
    components["vae"].register_to_config(**PLAYGROUND_STATISTICS)
    if unet_in_channels is not None:
        components = _with_unet(components, in_channels=unet_in_channels)
    if controlnet is not None:
        components["controlnet"] = tiny_controlnet(components["unet"], union=controlnet == "union")
    return {**components, "add_watermarker": False, "requires_aesthetics_score": False}


def lcm_components() -> dict:
    """`LatentConsistencyModel{,Img2Img}Pipeline` components: LCM's scheduler and a UNet that takes the guidance scale
    as an embedding (`time_cond_proj_dim`)."""
    from diffusers import LCMScheduler

    components = _with_unet(sd_components(), time_cond_proj_dim=32)
    return {**components, "scheduler": LCMScheduler()}


def _adapter_unet(components: dict, **config) -> dict:
    # The adapter's features meet the UNet's down blocks at their resolutions: cross-attention block first (its residual
    # is added before downsampling).
    return _with_unet(
        components,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        **config,
    )


def sd_adapter_components() -> dict:
    """`StableDiffusionAdapterPipeline` components: a two-block full T2I-Adapter matching the UNet's blocks."""
    from diffusers import T2IAdapter

    components = _adapter_unet(sd_components(), attention_head_dim=2)
    components.pop("image_encoder")  # the adapter pipeline has none
    torch.manual_seed(0)
    components["adapter"] = T2IAdapter(
        in_channels=3, channels=[4, 8], num_res_blocks=1, downscale_factor=2, adapter_type="full_adapter"
    )
    return components


def sdxl_adapter_components() -> dict:
    """`StableDiffusionXLAdapterPipeline` components (Playground v2.5's statistics in the VAE config, which this
    pipeline ignores): a two-block full T2I-Adapter matching the UNet's blocks."""
    from diffusers import T2IAdapter

    components = _adapter_unet(sdxl_variant_components())
    torch.manual_seed(0)
    components["adapter"] = T2IAdapter(
        in_channels=3, channels=[2, 4], num_res_blocks=1, downscale_factor=2, adapter_type="full_adapter"
    )
    return components


def kolors_components() -> dict:
    """`KolorsPipeline` / `KolorsPAGPipeline` components (SDXL's, Playground v2.5's statistics in the VAE config, a
    UNet for Kolors' 8-wide embeddings) without the ChatGLM encoder, whose tokenizer cannot be built offline: pass
    `kolors_prompt_embeds()`."""
    components = sdxl_variant_components()
    components = _with_unet(components, cross_attention_dim=8, projection_class_embeddings_input_dim=56)  # 6 * 8 + 8
    return {**components, "text_encoder": None, "tokenizer": None}


def kolors_prompt_embeds(batch_size: int = 1, seed: int = 0) -> dict:
    """Prompt and negative-prompt embeddings (and their pooled forms) for `kolors_components()` pipelines."""
    g = torch.Generator("cpu").manual_seed(seed)
    embeds = {}
    for prefix in ("", "negative_"):
        embeds[f"{prefix}prompt_embeds"] = torch.randn(batch_size, 8, 8, generator=g)
        embeds[f"{prefix}pooled_prompt_embeds"] = torch.randn(batch_size, 8, generator=g)
    return embeds


# --- SD image variants of issue 13 on the SD VAE (tests/formats/test_sd_variants.py) -----------------------------------
# `sd_components()` with the variant's own UNet input channels, attention or scheduler; each test filters them to the
# pipeline's `__init__`.


def sd_gligen_components() -> dict:
    """`StableDiffusionGLIGENPipeline` components: a UNet with gated self-attention and GLIGEN's box projection."""
    return _with_unet(sd_components(), attention_type="gated")


def sd_gligen_text_image_components() -> dict:
    """`StableDiffusionGLIGENTextImagePipeline` components: a UNet with gated self-attention over text and image
    groundings, a CLIP image encoder, its processor with the tokenizer, and the image-embedding projection."""
    from diffusers.pipelines.stable_diffusion import CLIPImageProjection
    from transformers import CLIPProcessor

    components = _with_unet(sd_components(), attention_type="gated-text-image")
    image_encoder, image_processor = tiny_clip_vision()
    processor = CLIPProcessor(image_processor=image_processor, tokenizer=tiny_tokenizer())
    torch.manual_seed(0)
    return {
        **components,
        "image_encoder": image_encoder,
        "processor": processor,
        "image_project": CLIPImageProjection(32),
    }


def sd_depth2img_components() -> dict:
    """`StableDiffusionDepth2ImgPipeline` components: a UNet that takes latents and the depth map (4 + 1 channels), no
    depth estimator (the tests pass `depth_map`)."""
    return {**_with_unet(sd_components(), in_channels=5), "depth_estimator": None}


def sd_upscale_components() -> dict:
    """`StableDiffusionUpscalePipeline` (x4 upscaler) components: a UNet that takes latents and the low-resolution
    image (4 + 3 channels) with the noise level as class label, and the upscaler's VAE factor (0.08333, which the
    pipeline would otherwise write into the VAE's config)."""
    from diffusers import DDPMScheduler

    components = _with_unet(sd_components(), in_channels=7, num_class_embeds=100)
    components["vae"].register_to_config(scaling_factor=0.08333)
    scheduler = DDIMScheduler(prediction_type="v_prediction")
    return {**components, "scheduler": scheduler, "low_res_scheduler": DDPMScheduler(), "max_noise_level": 350}


def tiny_clip_vision(**overrides):
    """A tiny `CLIPVisionModelWithProjection` (32-wide, 32-pixel images) and its image processor."""
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

    config = {
        "hidden_size": 32,
        "projection_dim": 32,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "image_size": 32,
        "intermediate_size": 37,
        "patch_size": 4,
    }
    config.update(overrides)
    torch.manual_seed(0)
    return CLIPVisionModelWithProjection(CLIPVisionConfig(**config)), CLIPImageProcessor(crop_size=32, size=32)


def sd_image_variation_components() -> dict:
    """`StableDiffusionImageVariationPipeline` components: the SD UNet conditioned on CLIP image embeddings."""
    image_encoder, feature_extractor = tiny_clip_vision()
    return {**sd_components(), "image_encoder": image_encoder, "feature_extractor": feature_extractor}


def paint_by_example_components() -> dict:
    """`PaintByExamplePipeline` components: an inpainting UNet (4 + 1 + 4 channels) and its example-image encoder."""
    import importlib

    import diffusers

    # `diffusers.pipelines.paint_by_example` before 0.36, `...deprecated.paint_by_example` since
    module = importlib.import_module(diffusers.PaintByExamplePipeline.__module__)
    image_encoder, feature_extractor = tiny_clip_vision()
    torch.manual_seed(0)
    image_encoder = module.PaintByExampleImageEncoder(image_encoder.config, proj_size=32)
    return {**sd_inpaint_components(), "image_encoder": image_encoder, "feature_extractor": feature_extractor}


def controlnet_xs_components(xl: bool = False) -> dict:
    """`StableDiffusion{,XL}ControlNetXSPipeline` components: a ControlNet-XS adapter made from a UNet with 2 layers
    per block (the adapter's blocks mirror 2); SDXL: Playground v2.5's statistics in the VAE config, which the
    pipeline ignores."""
    from diffusers import ControlNetXSAdapter

    components = _with_unet(sdxl_variant_components() if xl else sd_components(), layers_per_block=2)
    torch.manual_seed(0)
    components["controlnet"] = ControlNetXSAdapter.from_unet(
        components["unet"], size_ratio=1, learn_time_embedding=True, conditioning_embedding_out_channels=(4, 8)
    )
    return components


def sd_inversion_components() -> dict:
    """`StableDiffusionDiffEditPipeline` / `StableDiffusionPix2PixZeroPipeline` components: an inverse DDIM scheduler
    for their `invert`, no captioning model (Pix2Pix-Zero's, for `generate_caption` only)."""
    from diffusers import DDIMInverseScheduler

    components = sd_components()
    inverse_scheduler = DDIMInverseScheduler.from_config(components["scheduler"].config)
    return {**components, "inverse_scheduler": inverse_scheduler, "caption_generator": None, "caption_processor": None}


def ledits_components(xl: bool = False) -> dict:
    """`LEditsPPPipelineStableDiffusion{,XL}` components with the multistep DPM-Solver these pipelines switch any
    other scheduler to (SDXL: Playground v2.5's statistics in the VAE config, which these pipelines ignore)."""
    from diffusers import DPMSolverMultistepScheduler

    components = sdxl_variant_components() if xl else sd_components()
    config = components["scheduler"].config
    scheduler = DPMSolverMultistepScheduler.from_config(config, algorithm_type="sde-dpmsolver++", solver_order=2)
    return {**components, "scheduler": scheduler}


def stable_unclip_components(img2img: bool = False) -> dict:
    """`StableUnCLIP{,Img2Img}Pipeline` components: a UNet conditioned on noised CLIP image embeddings (class
    embedding of 2 x 32), their normalizer and noising scheduler; the image embeddings come from a CLIP image encoder
    (img2img) or from a prior on CLIP text embeddings."""
    from diffusers import DDPMScheduler, PriorTransformer
    from diffusers.pipelines.stable_diffusion.stable_unclip_image_normalizer import StableUnCLIPImageNormalizer

    components = _with_unet(sd_components(), class_embed_type="projection", projection_class_embeddings_input_dim=64)
    torch.manual_seed(0)
    components["image_normalizer"] = StableUnCLIPImageNormalizer(embedding_dim=32)
    components["image_noising_scheduler"] = DDPMScheduler(beta_schedule="squaredcos_cap_v2")
    if img2img:
        components["image_encoder"], components["feature_extractor"] = tiny_clip_vision()
        return components
    torch.manual_seed(0)
    components["prior"] = PriorTransformer(
        num_attention_heads=2, attention_head_dim=16, embedding_dim=32, num_layers=1
    )
    torch.manual_seed(0)
    components["prior_text_encoder"] = CLIPTextModelWithProjection(_text_encoder_config(projection_dim=32))
    components["prior_tokenizer"] = tiny_tokenizer()
    components["prior_scheduler"] = DDPMScheduler(
        variance_type="fixed_small_log",
        prediction_type="sample",
        clip_sample=True,
        clip_sample_range=5.0,
        beta_schedule="squaredcos_cap_v2",
    )
    return components


def sd_latent_upscale_components() -> dict:
    """`StableDiffusionLatentUpscalePipeline` components: a K-diffusion UNet (Fourier time embedding, no mid block)
    that takes latents and the low-resolution latents (4 + 4 channels) and predicts 5 (as diffusers' fast test)."""
    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        act_fn="gelu",
        attention_head_dim=8,
        norm_num_groups=None,
        block_out_channels=[32, 32, 64, 64],  # its K-blocks' group norms need 32 channels
        time_cond_proj_dim=160,
        conv_in_kernel=1,
        conv_out_kernel=1,
        cross_attention_dim=32,
        down_block_types=("KDownBlock2D", "KCrossAttnDownBlock2D", "KCrossAttnDownBlock2D", "KCrossAttnDownBlock2D"),
        in_channels=8,
        mid_block_type=None,
        only_cross_attention=False,
        out_channels=5,
        resnet_time_scale_shift="scale_shift",
        time_embedding_type="fourier",
        timestep_post_act="gelu",
        up_block_types=("KCrossAttnUpBlock2D", "KCrossAttnUpBlock2D", "KCrossAttnUpBlock2D", "KUpBlock2D"),
    )
    scheduler = EulerDiscreteScheduler(prediction_type="sample")
    return {**sd_components(), "unet": unet, "scheduler": scheduler}


# --- video pipelines on the SD VAE of issue 13 (tests/formats/test_video_sd.py) ----------------------------------------
# AnimateDiff (a motion adapter over the SD UNet), ModelScope text-to-video (a 3-D UNet), PIA, I2VGen-XL and Stable
# Video Diffusion, on the tiny SD VAE (Stable Video Diffusion: its temporal decoder), after diffusers' fast tests.


def tiny_motion_adapter(block_out_channels=(4, 8)):
    from diffusers import MotionAdapter

    torch.manual_seed(0)
    return MotionAdapter(
        block_out_channels=block_out_channels,
        motion_layers_per_block=1,
        motion_norm_num_groups=2,
        motion_num_attention_heads=2,
    )


def animatediff_components(controlnet: str | None = None, unet_in_channels: int = 4) -> dict:
    """AnimateDiff components: the SD UNet and a motion adapter over it (the pipelines build the motion UNet), and
    `controlnet` `"controlnet"` or `"sparse"` (a SparseCtrl ControlNet); PIA: `unet_in_channels=9` (latents, mask and
    condition latents)."""
    from diffusers import SparseControlNetModel

    components = sd_variant_components(unet_in_channels=unet_in_channels if unet_in_channels != 4 else None)
    components["motion_adapter"] = tiny_motion_adapter()
    if controlnet == "controlnet":
        components["controlnet"] = tiny_controlnet(sd_components()["unet"])
    elif controlnet == "sparse":
        torch.manual_seed(0)
        components["controlnet"] = SparseControlNetModel(
            block_out_channels=(4, 8),
            layers_per_block=1,
            conditioning_channels=3,
            down_block_types=("CrossAttnDownBlockMotion", "DownBlockMotion"),
            cross_attention_dim=32,
            attention_head_dim=2,
            conditioning_embedding_out_channels=(4, 8),
            norm_num_groups=2,
            motion_num_attention_heads=2,
            use_simplified_condition_embedding=False,
        )
    return components


def animatediff_sdxl_components() -> dict:
    """`AnimateDiffSDXLPipeline` components: the SDXL UNet (Playground v2.5's statistics in the VAE config, which this
    pipeline ignores) and a motion adapter over it."""
    return {**sdxl_variant_components(), "motion_adapter": tiny_motion_adapter(block_out_channels=(2, 4))}


# The tiny 3-D UNets' shape (ModelScope's `UNet3DConditionModel`, `I2VGenXLUNet`).
UNET_3D = {
    "block_out_channels": (4, 8),
    "layers_per_block": 1,
    "sample_size": 16,
    "in_channels": 4,
    "out_channels": 4,
    "down_block_types": ("CrossAttnDownBlock3D", "DownBlock3D"),
    "up_block_types": ("UpBlock3D", "CrossAttnUpBlock3D"),
    "cross_attention_dim": 32,
    "attention_head_dim": 4,
    "norm_num_groups": 2,
}


def text_to_video_sd_components() -> dict:
    """`TextToVideoSDPipeline` / `VideoToVideoSDPipeline` components: a 3-D UNet on the tiny SD VAE."""
    from diffusers import UNet3DConditionModel

    torch.manual_seed(0)
    return {**sd_components(), "unet": UNet3DConditionModel(**UNET_3D)}


def i2vgen_xl_components() -> dict:
    """`I2VGenXLPipeline` components: its 3-D UNet on the tiny SD VAE, a CLIP image encoder and its processor."""
    from diffusers import I2VGenXLUNet

    torch.manual_seed(0)
    unet = I2VGenXLUNet(**UNET_3D, num_attention_heads=None)
    image_encoder, feature_extractor = tiny_clip_vision()
    return {**sd_components(), "unet": unet, "image_encoder": image_encoder, "feature_extractor": feature_extractor}


def svd_components() -> dict:
    """`StableVideoDiffusionPipeline` components: a spatio-temporal UNet, the temporal-decoder VAE (SD's
    `scaling_factor`), a CLIP image encoder and its processor."""
    from diffusers import AutoencoderKLTemporalDecoder, UNetSpatioTemporalConditionModel

    torch.manual_seed(0)
    unet = UNetSpatioTemporalConditionModel(
        block_out_channels=(32, 32),  # its group norms have 32 groups
        layers_per_block=1,
        sample_size=16,
        in_channels=8,
        out_channels=4,
        down_block_types=("CrossAttnDownBlockSpatioTemporal", "DownBlockSpatioTemporal"),
        up_block_types=("UpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal"),
        cross_attention_dim=32,
        num_attention_heads=2,
        projection_class_embeddings_input_dim=24,  # 3 * addition_time_embed_dim
        addition_time_embed_dim=8,
    )
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        interpolation_type="linear",
        prediction_type="v_prediction",
        sigma_max=700.0,
        sigma_min=0.002,
        steps_offset=1,
        timestep_spacing="leading",
        timestep_type="continuous",
        use_karras_sigmas=True,
    )
    torch.manual_seed(0)
    vae = AutoencoderKLTemporalDecoder(
        block_out_channels=[32, 32],  # its group norms have 32 groups
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"],
        latent_channels=4,
    )
    # the pipeline resizes the condition image to 224 x 224 for its image encoder
    image_encoder, feature_extractor = tiny_clip_vision(image_size=224, patch_size=32)
    return {
        "unet": unet,
        "scheduler": scheduler,
        "vae": vae,
        "image_encoder": image_encoder,
        "feature_extractor": feature_extractor,
    }


# --- Flux / SD3 / transformer pipeline variants of issue 13 ------------------------------------------------------------


def flux_controlnet():
    """A `FluxControlNetModel` shaped like `flux_components()`' transformer (its conditioning: the control image's
    packed latents)."""
    from diffusers import FluxControlNetModel

    shape = ("patch_size", "num_layers", "num_single_layers", "attention_head_dim", "num_attention_heads")
    shape += ("joint_attention_dim", "pooled_projection_dim", "axes_dims_rope")
    return shaped_like(FluxControlNetModel, flux_components()["transformer"], shape, in_channels=16)


def sd3_controlnet(extra_conditioning_channels: int = 0):
    """An `SD3ControlNetModel` shaped like `sd3_components()`' transformer; the inpainting pipeline's takes the mask
    as 1 extra channel."""
    from diffusers import SD3ControlNetModel

    shape = ("sample_size", "patch_size", "in_channels", "num_layers", "attention_head_dim", "num_attention_heads")
    shape += ("caption_projection_dim", "joint_attention_dim", "pooled_projection_dim", "out_channels")
    transformer = sd3_components()["transformer"]
    return shaped_like(SD3ControlNetModel, transformer, shape, extra_conditioning_channels=extra_conditioning_channels)


def shaped_like(model_class, transformer, keys: tuple[str, ...], **config):
    """A `model_class` built (seed 0) with `transformer`'s config values for `keys` and `config`: a ControlNet shaped
    like its pipeline's transformer, or a sibling transformer."""
    torch.manual_seed(0)
    return model_class(**{key: transformer.config[key] for key in keys}, **config)


def text_embeds(
    batch_size: int, length: int, width: int, mask: torch.dtype | None = torch.long, seed: int = 0
) -> dict:
    """`prompt_embeds` of shape `(batch_size, length, width)` and, unless `mask` is None, an all-ones
    `prompt_attention_mask` of dtype `mask`."""
    g = torch.Generator("cpu").manual_seed(seed)
    embeds = {"prompt_embeds": torch.randn(batch_size, length, width, generator=g)}
    if mask is not None:
        embeds["prompt_attention_mask"] = torch.ones(batch_size, length, dtype=mask)
    return embeds


def make_pil_images(n: int = 1, size: tuple[int, int] = (32, 32), seed: int = 0) -> list[PIL.Image.Image]:
    """Smooth RGB test images (gradients plus noise), `size` as PIL's (width, height)."""
    rng = np.random.default_rng(seed)
    width, height = size
    y, x = np.mgrid[0:height, 0:width]
    images = []
    for _ in range(n):
        phase = rng.uniform(0, 2 * np.pi, size=3)
        channels = [0.5 + 0.4 * np.sin(x / width * 2 * np.pi + p) * np.cos(y / height * np.pi + p) for p in phase]
        array = np.stack(channels, axis=-1) + rng.normal(0, 0.05, size=(height, width, 3))
        images.append(PIL.Image.fromarray((np.clip(array, 0, 1) * 255).round().astype(np.uint8)))
    return images


def make_mask(size: tuple[int, int] = (32, 32)) -> PIL.Image.Image:
    """A binary inpainting mask, `size` as PIL's (width, height): white (repaint) on the right half."""
    width, height = size
    array = np.zeros((height, width), dtype=np.uint8)
    array[:, width // 2 :] = 255
    return PIL.Image.fromarray(array)  # uint8, two axes: mode "L"


def default_sigint() -> None:
    """`preexec_fn` for a subprocess that a test interrupts: SIGINT back to its default in the child. A CI runner
    started in the background ignores SIGINT, and Python keeps an ignored SIGINT ignored, so without this the test
    would not see the command's own handling of Ctrl-C."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@contextlib.contextmanager
def launcher_env():
    """Environment for a multi-process launch (`accelerate launch`, `torch.distributed.run`) of this package: the
    working tree importable, one thread per process, and a `$TMPDIR` of its own, removed afterwards: torch's elastic
    launcher keeps its run folder (`torchelastic_*`) there and does not always remove it. The folder is made directly in
    `$TMPDIR`, not in pytest's deeper `tmp_path`: the workers' multiprocessing sockets live in `$TMPDIR`, and an
    AF_UNIX socket path may not exceed 107 bytes."""
    launch_tmp = tempfile.mkdtemp(prefix="launch-")
    try:
        yield {
            **os.environ,
            "PYTHONPATH": os.getcwd() + os.pathsep + os.environ.get("PYTHONPATH", ""),
            "OMP_NUM_THREADS": "1",
            "TMPDIR": launch_tmp,
        }
    finally:
        shutil.rmtree(launch_tmp, ignore_errors=True)


def diffusers_class(name: str):
    """The pipeline class `name` of the installed diffusers; the test is skipped where this diffusers (the oldest
    supported) lacks it."""
    import diffusers
    import pytest

    if not hasattr(diffusers, name):
        pytest.skip(f"{name} is not in diffusers {diffusers.__version__}")
    return getattr(diffusers, name)


def make_pipeline(pipeline_class, components: dict):
    """`pipeline_class` built from the `components` its `__init__` takes, progress bar off."""
    import inspect

    accepted = inspect.signature(pipeline_class.__init__).parameters
    pipe = pipeline_class(**{k: v for k, v in components.items() if k in accepted})
    pipe.set_progress_bar_config(disable=True)
    return pipe


def generator(seed: int = 0) -> torch.Generator:
    return torch.Generator("cpu").manual_seed(seed)


def write_image_folder(
    folder: str, n: int = 6, sizes: tuple[tuple[int, int], ...] = ((32, 32),), seed: int = 0
) -> str:
    """Writes `n` test images `img_000.png`, ... into `folder` (sizes cycle through `sizes`) and returns `folder`."""
    os.makedirs(folder, exist_ok=True)
    for i in range(n):
        make_pil_images(1, size=sizes[i % len(sizes)], seed=seed + i)[0].save(os.path.join(folder, f"img_{i:03d}.png"))
    return folder


def make_clip(num_frames: int = 5, size: tuple[int, int] = (16, 16), seed: int = 0) -> list[PIL.Image.Image]:
    """A test video clip: `num_frames` smooth RGB frames (`size` as PIL's (width, height)) that differ frame to frame."""
    return make_pil_images(num_frames, size=size, seed=seed * 1000)


def write_clip_folder(
    folder: str,
    n: int = 3,
    num_frames: int = 5,
    sizes: tuple[tuple[int, int], ...] = ((16, 16),),
    gif: tuple[int, ...] = (),
    seed: int = 0,
) -> str:
    """Writes `n` test clips into `folder` and returns it: clip `i` is a folder of frames `clip_{i:03d}/frame_{j:03d}.png`,
    or for `i` in `gif` an animated GIF `clip_{i:03d}.gif` (10 fps); sizes cycle through `sizes`."""
    os.makedirs(folder, exist_ok=True)
    for i in range(n):
        frames = make_clip(num_frames, sizes[i % len(sizes)], seed + i)
        if i in gif:
            frames[0].save(
                os.path.join(folder, f"clip_{i:03d}.gif"),
                save_all=True,
                append_images=frames[1:],
                duration=100,
                loop=0,
            )
            continue
        os.makedirs(os.path.join(folder, f"clip_{i:03d}"), exist_ok=True)
        for j, frame in enumerate(frames):
            frame.save(os.path.join(folder, f"clip_{i:03d}", f"frame_{j:03d}.png"))
    return folder


# --- failure injection: the n-th file-system write of a block fails ---------------------------------------------------
# Through a Python audit hook (`sys.addaudithook`, a documented mechanism; installed once, inert when not armed): a
# "write step" is a file opened for writing, a folder made, or a rename. Writes done outside Python (safetensors' Rust
# `save_file`) are not seen; the files around them are.


class InjectedFault(Exception):
    """The failure `write_step_failing` injects."""


_FAULT = {"armed": False, "count": 0, "fail_at": 0, "installed": False}


def _audit(event: str, args: tuple) -> None:
    if not _FAULT["armed"]:
        return
    if event == "open":
        _, mode, flags = args
        writing = any(c in mode for c in "wxa+") if isinstance(mode, str) else bool(flags & (os.O_WRONLY | os.O_RDWR))
        if not writing:
            return
    elif event not in ("os.mkdir", "os.rename", "os.replace"):
        return
    _FAULT["count"] += 1
    if _FAULT["count"] == _FAULT["fail_at"]:
        raise InjectedFault(f"injected failure at write step {_FAULT['count']}: {event} {args[0]!r}")


@contextlib.contextmanager
def write_step_failing(step: int):
    """Within the block, the `step`-th write step raises `InjectedFault` (0: none does). Yields the counter dict;
    `["count"]` is the number of write steps made so far."""
    if not _FAULT["installed"]:
        sys.addaudithook(_audit)
        _FAULT["installed"] = True
    _FAULT.update(armed=True, count=0, fail_at=step)
    try:
        yield _FAULT
    finally:
        _FAULT["armed"] = False


def fail_each_write_step(run, check) -> int:
    """Runs `run()` with its first write step failing, then its second, ... (calling `check()` after each failure),
    until a run makes fewer write steps than the one that fails; returns the number of write steps of a full run."""
    step = 1
    while True:
        with write_step_failing(step) as fault:
            try:
                run()
            except InjectedFault:
                pass
            else:
                assert fault["count"] < step, f"write step {step} was injected a failure, and the run did not fail"
                return fault["count"]
        check()
        step += 1


# --- original (LDM / CompVis) checkpoint layout, for `from_single_file` ------------------------------------------------
# The inverse of diffusers' `convert_ldm_unet_checkpoint` / `convert_ldm_vae_checkpoint` / `convert_ldm_clip_checkpoint` /
# `convert_open_clip_checkpoint` for the block layouts of the tiny models above;
# `tests/pipelines/test_pipelines_single_file.py` checks that diffusers' own converters map the result back to the
# original state dicts exactly.

_LDM_RESNET = {
    "norm1": "in_layers.0",
    "conv1": "in_layers.2",
    "norm2": "out_layers.0",
    "conv2": "out_layers.3",
    "time_emb_proj": "emb_layers.1",
    "conv_shortcut": "skip_connection",
}
_LDM_UNET_TOP = {
    "time_embedding.linear_1": "time_embed.0",
    "time_embedding.linear_2": "time_embed.2",
    "add_embedding.linear_1": "label_emb.0.0",
    "add_embedding.linear_2": "label_emb.0.2",
    "conv_in": "input_blocks.0.0",
    "conv_norm_out": "out.0",
    "conv_out": "out.2",
}
_LDM_VAE_ATTENTION = {
    "group_norm": "norm",
    "to_q": "q",
    "to_k": "k",
    "to_v": "v",
    "to_out.0": "proj_out",
}


def _ldm_unet_key(key: str, unet: UNet2DConditionModel) -> str:
    per_block = unet.config.layers_per_block + 1  # LDM keeps a downsampler (down) / an extra resnet (up) per block
    parts = key.split(".")
    for prefix, ldm in _LDM_UNET_TOP.items():
        if key.startswith(prefix + "."):
            return ldm + key[len(prefix) :]
    if parts[0] in ("down_blocks", "up_blocks"):
        block, kind, index, rest = int(parts[1]), parts[2], int(parts[3]), parts[4:]
        if parts[0] == "down_blocks":
            if kind == "downsamplers":  # down_blocks.b.downsamplers.0.conv.* -> input_blocks.n.0.op.*
                return f"input_blocks.{1 + block * per_block + per_block - 1}.0.op.{'.'.join(rest[1:])}"
            ldm_block = f"input_blocks.{1 + block * per_block + index}"
        else:
            if kind == "upsamplers":  # up_blocks.b.upsamplers.0.conv.* -> output_blocks.n.(1|2).conv.*
                has_attention = any(k.startswith(f"up_blocks.{block}.attentions.") for k in unet.state_dict())
                return f"output_blocks.{block * per_block + per_block - 1}.{2 if has_attention else 1}.conv.{rest[-1]}"
            ldm_block = f"output_blocks.{block * per_block + index}"
        if kind == "attentions":
            return f"{ldm_block}.1.{'.'.join(rest)}"
        return f"{ldm_block}.0.{_LDM_RESNET.get(rest[0], rest[0])}.{'.'.join(rest[1:])}"
    if parts[0] == "mid_block":
        kind, index, rest = parts[1], int(parts[2]), parts[3:]
        if kind == "attentions":
            return f"middle_block.1.{'.'.join(rest)}"
        return f"middle_block.{2 * index}.{_LDM_RESNET.get(rest[0], rest[0])}.{'.'.join(rest[1:])}"
    raise KeyError(key)


def _ldm_vae_key(key: str, vae: AutoencoderKL) -> str:
    parts = key.split(".")
    half, rest = parts[0], parts[1:]
    if half not in ("encoder", "decoder"):
        return key  # quant_conv, post_quant_conv
    if rest[0] in ("conv_in", "conv_out"):
        return key
    if rest[0] == "conv_norm_out":
        return f"{half}.norm_out.{rest[-1]}"
    if rest[0] in ("down_blocks", "up_blocks"):
        block = int(rest[1])
        ldm_block = f"down.{block}" if half == "encoder" else f"up.{len(vae.config.up_block_types) - 1 - block}"
        if rest[2] in ("downsamplers", "upsamplers"):
            return f"{half}.{ldm_block}.{'downsample' if half == 'encoder' else 'upsample'}.conv.{rest[-1]}"
        name = "nin_shortcut" if rest[4] == "conv_shortcut" else rest[4]
        return f"{half}.{ldm_block}.block.{rest[3]}.{name}.{rest[-1]}"
    if rest[0] == "mid_block":
        if rest[1] == "resnets":
            name = "nin_shortcut" if rest[3] == "conv_shortcut" else rest[3]
            return f"{half}.mid.block_{int(rest[2]) + 1}.{name}.{rest[-1]}"
        inner = ".".join(rest[3:-1])
        return f"{half}.mid.attn_1.{_LDM_VAE_ATTENTION[inner]}.{rest[-1]}"
    raise KeyError(key)


def _open_clip_state_dict(text_encoder: CLIPTextModelWithProjection) -> dict:
    """OpenCLIP's layout of a CLIP text encoder (SDXL's second one): fused q/k/v, `resblocks`, transposed projection."""
    state = {
        k if k.startswith("text_model.") or k.startswith("text_projection") else "text_model." + k: v
        for k, v in text_encoder.state_dict().items()
    }
    renames = {
        ".layer_norm1.": ".ln_1.",
        ".layer_norm2.": ".ln_2.",
        ".mlp.fc1.": ".mlp.c_fc.",
        ".mlp.fc2.": ".mlp.c_proj.",
        ".self_attn.out_proj.": ".attn.out_proj.",
    }
    out = {
        "positional_embedding": state.pop("text_model.embeddings.position_embedding.weight"),
        "token_embedding.weight": state.pop("text_model.embeddings.token_embedding.weight"),
        "ln_final.weight": state.pop("text_model.final_layer_norm.weight"),
        "ln_final.bias": state.pop("text_model.final_layer_norm.bias"),
        "text_projection": state.pop("text_projection.weight").T.contiguous(),
    }
    for key in [k for k in state if ".self_attn.q_proj." in k]:
        fused = key.replace("text_model.encoder.layers.", "transformer.resblocks.").replace(
            ".self_attn.q_proj.", ".attn.in_proj_"
        )
        out[fused] = torch.cat([state.pop(key.replace("q_proj", p)) for p in ("q_proj", "k_proj", "v_proj")])
    for key, value in state.items():
        if key == "text_model.embeddings.position_ids":
            continue
        new = key.replace("text_model.encoder.layers.", "transformer.resblocks.")
        for old, replacement in renames.items():
            new = new.replace(old, replacement)
        out[new] = value
    return out


def ldm_checkpoint(components: dict) -> dict:
    """The UNet, VAE and text encoder(s) of a Stable Diffusion 1.x or XL pipeline as one state dict in the original
    single-file layout (`model.diffusion_model.*`, `first_stage_model.*`, and `cond_stage_model.transformer.*` for SD 1.x
    or `conditioner.embedders.{0,1}.*` for SDXL), as `from_single_file` reads it."""
    unet, vae = components["unet"], components["vae"]
    checkpoint = {}
    for key, value in unet.state_dict().items():
        checkpoint["model.diffusion_model." + _ldm_unet_key(key, unet)] = value.clone()
    for key, value in vae.state_dict().items():
        if ".attentions." in key and key.endswith("weight") and value.ndim == 2:
            value = value[:, :, None, None]  # LDM's VAE attention projections are 1x1 convolutions
        checkpoint["first_stage_model." + _ldm_vae_key(key, vae)] = value.clone()
    sdxl = components.get("text_encoder_2") is not None
    prefix = "conditioner.embedders.0.transformer." if sdxl else "cond_stage_model.transformer."
    for key, value in components["text_encoder"].state_dict().items():
        key = key if key.startswith("text_model.") else "text_model." + key  # transformers >= 5.6 dropped the prefix
        checkpoint[prefix + key] = value.clone()
    if sdxl:
        for key, value in _open_clip_state_dict(components["text_encoder_2"]).items():
            checkpoint["conditioner.embedders.1.model." + key] = value.clone()
    return checkpoint


# Video families: tiny components after diffusers' own fast tests (tests/pipelines/{wan,ltx,hunyuan_video,cogvideo,
# mochi}), smaller where only the plumbing matters. No text encoder: the tests pass prompt embeddings. Every VAE gets
# non-trivial statistics (per-channel means/stds, a scaling factor that is not 1), so a wrong formula shows.


def _channel_statistics(channels: int, seed: int) -> tuple[list[float], list[float]]:
    g = torch.Generator().manual_seed(seed)
    mean = (torch.rand(channels, generator=g) - 0.5).tolist()
    std = (torch.rand(channels, generator=g) * 1.5 + 0.5).tolist()
    return mean, std


def tiny_vae_wan(z_dim: int = 16):
    """Wan 2.1's VAE (also Wan 2.2 A14B's); with `z_dim=48`, Wan 2.2 TI2V-5B's: residual blocks and a 2x2 patchify
    (12 pixel channels in and out), 16x spatial compression."""
    from diffusers import AutoencoderKLWan

    torch.manual_seed(0)
    if z_dim == 48:
        vae = AutoencoderKLWan(
            base_dim=4,
            z_dim=48,
            dim_mult=[1, 1, 1, 1],
            num_res_blocks=1,
            temperal_downsample=[False, True, True],
            is_residual=True,
            in_channels=12,
            out_channels=12,
            patch_size=2,
            scale_factor_spatial=16,
        )
    else:
        vae = AutoencoderKLWan(
            base_dim=3, z_dim=z_dim, dim_mult=[1, 1, 1, 1], num_res_blocks=1, temperal_downsample=[False, True, True]
        )
    mean, std = _channel_statistics(z_dim, seed=1)
    vae.register_to_config(latents_mean=mean, latents_std=std)
    return vae


def _tiny_wan_transformer(
    in_channels: int, out_channels: int, image_dim: int | None = None, seed: int = 0, skyreels: bool = False
):
    from diffusers import SkyReelsV2Transformer3DModel, WanTransformer3DModel

    torch.manual_seed(seed)
    return (SkyReelsV2Transformer3DModel if skyreels else WanTransformer3DModel)(
        patch_size=(1, 2, 2),
        num_attention_heads=2,
        attention_head_dim=12,
        in_channels=in_channels,
        out_channels=out_channels,
        text_dim=32,
        freq_dim=256,
        ffn_dim=32,
        num_layers=1,
        cross_attn_norm=True,
        qk_norm="rms_norm_across_heads",
        rope_max_seq_len=32,
        image_dim=image_dim,
    )


def wan_components(image_to_video: bool = False) -> dict:
    """`WanPipeline` (Wan 2.1 t2v) or, with `image_to_video`, `WanImageToVideoPipeline` (Wan 2.1 i2v: the condition
    latents and mask are concatenated on the channel axis, 16 + 4 + 16 = 36 channels in, with a tiny CLIP image
    encoder) components; pass `prompt_embeds` (width 32)."""
    transformer = _tiny_wan_transformer(36 if image_to_video else 16, 16, image_dim=4 if image_to_video else None)
    components = _without_text_encoder(transformer, tiny_vae_wan(), FlowMatchEulerDiscreteScheduler(shift=7.0))
    if image_to_video:
        from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

        try:  # transformers 5: the PIL processor has its own name (the default one needs torchvision)
            from transformers import CLIPImageProcessorPil
        except ImportError:  # transformers 4: the default processor is the PIL one
            from transformers import CLIPImageProcessor as CLIPImageProcessorPil

        torch.manual_seed(0)
        vision_config = CLIPVisionConfig(
            hidden_size=4,
            projection_dim=4,
            num_hidden_layers=1,
            num_attention_heads=2,
            image_size=16,
            intermediate_size=8,
            patch_size=4,
        )
        components.update(
            image_encoder=CLIPVisionModelWithProjection(vision_config),
            image_processor=CLIPImageProcessorPil(crop_size=16, size=16),
        )
    return components


def lucy_edit_components() -> dict:
    """`LucyEditPipeline` components: Wan 2.1's, with a transformer taking the noise and the edited video's latents
    concatenated on the channel axis (16 + 16 channels in); pass `prompt_embeds` (width 32)."""
    return {**wan_components(), "transformer": _tiny_wan_transformer(32, 16)}


def anyflow_components() -> dict:
    """`AnyFlowPipeline` components: Wan 2.1's VAE, a tiny `AnyFlowTransformer3DModel` (frames before channels) and
    its flow-map scheduler; pass `prompt_embeds` (width 32)."""
    from diffusers import AnyFlowTransformer3DModel, FlowMapEulerDiscreteScheduler

    torch.manual_seed(0)
    transformer = AnyFlowTransformer3DModel(
        num_attention_heads=2,
        attention_head_dim=12,
        in_channels=16,
        out_channels=16,
        text_dim=32,
        freq_dim=256,
        ffn_dim=32,
        num_layers=1,
        rope_max_seq_len=32,
    )
    return _without_text_encoder(transformer, tiny_vae_wan(), FlowMapEulerDiscreteScheduler())


def wan_vace_components() -> dict:
    """`WanVACEPipeline` components (Wan 2.1's VAE, a VACE transformer with one control layer); pass `prompt_embeds`
    (width 32). The control input is 96 channels: the masked video's inactive and reactive latents (16 + 16) and the
    mask folded from 8x8 pixels (64)."""
    from diffusers import WanVACETransformer3DModel

    torch.manual_seed(0)
    transformer = WanVACETransformer3DModel(
        patch_size=(1, 2, 2),
        num_attention_heads=2,
        attention_head_dim=12,
        in_channels=16,
        out_channels=16,
        text_dim=32,
        freq_dim=256,
        ffn_dim=32,
        num_layers=2,
        cross_attn_norm=True,
        qk_norm="rms_norm_across_heads",
        rope_max_seq_len=32,
        vace_layers=[0],
        vace_in_channels=96,
    )
    return _without_text_encoder(transformer, tiny_vae_wan(), FlowMatchEulerDiscreteScheduler(shift=7.0))


def sana_video_components() -> dict:
    """`SanaVideoPipeline` / `SanaImageToVideoPipeline` components (Wan 2.1's VAE, 16x spatial latents per 2x2
    transformer patch, so `height`/`width` multiples of 32); pass `prompt_embeds` (width 16) and
    `prompt_attention_mask`, and `use_resolution_binning=False` (its bins are 480p and 720p)."""
    from diffusers import DPMSolverMultistepScheduler, SanaVideoTransformer3DModel

    torch.manual_seed(0)
    transformer = SanaVideoTransformer3DModel(
        in_channels=16,
        out_channels=16,
        num_attention_heads=2,
        attention_head_dim=12,
        num_layers=1,
        num_cross_attention_heads=2,
        cross_attention_head_dim=12,
        cross_attention_dim=24,
        caption_channels=16,
        sample_size=8,
        patch_size=(1, 2, 2),
        rope_max_seq_len=32,
    )
    scheduler = DPMSolverMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0)
    return _without_text_encoder(transformer, tiny_vae_wan(), scheduler)


def easyanimate_components(inpaint: bool = False) -> dict:
    """`EasyAnimatePipeline` components or, with `inpaint`, `EasyAnimateInpaintPipeline`'s (latents, the encoded mask
    and the masked video's latents concatenated on the channel axis, 4 + 4 + 4 channels in; no noise added to the
    masked video); pass `prompt_embeds` (width 16) and `prompt_attention_mask`. A `AutoencoderKLMagvit` with 8x spatial
    and 4x temporal compression, `scaling_factor=0.7`."""
    from diffusers import AutoencoderKLMagvit, EasyAnimateTransformer3DModel

    torch.manual_seed(0)
    transformer = EasyAnimateTransformer3DModel(
        num_attention_heads=2,
        attention_head_dim=16,
        in_channels=12 if inpaint else 4,
        out_channels=4,
        patch_size=2,
        sample_width=8,
        sample_height=8,
        num_layers=1,
        mmdit_layers=1,
        time_embed_dim=8,
        text_embed_dim=16,
        add_noise_in_inpaint_model=False,
        resize_inpaint_mask_directly=False,
    )
    torch.manual_seed(0)
    vae = AutoencoderKLMagvit(
        latent_channels=4, block_out_channels=[8, 8, 8, 8], layers_per_block=1, norm_num_groups=4, scaling_factor=0.7
    )
    return _without_text_encoder(transformer, vae)


def kandinsky5_video_components() -> dict:
    """`Kandinsky5T2VPipeline` / `Kandinsky5I2VPipeline` components (HunyuanVideo's tiny VAE, `scaling_factor` 0.477;
    a transformer with visual conditioning: latents, condition and mask concatenated channels last); pass
    `prompt_embeds_qwen` (width 16), `prompt_embeds_clip` (width 8) and `prompt_cu_seqlens`."""
    from diffusers import Kandinsky5Transformer3DModel

    torch.manual_seed(0)
    transformer = Kandinsky5Transformer3DModel(
        in_visual_dim=4,
        in_text_dim=16,
        in_text_dim2=8,
        time_dim=16,
        out_visual_dim=4,
        patch_size=(1, 2, 2),
        model_dim=16,
        ff_dim=32,
        num_text_blocks=1,
        num_visual_blocks=1,
        axes_dims=(4, 2, 2),
        visual_cond=True,
    )
    vae = hunyuan_video_components()["vae"]
    components = _without_text_encoder(transformer, vae, FlowMatchEulerDiscreteScheduler(shift=5.0))
    return {**components, "text_encoder_2": None, "tokenizer_2": None}


def motif_video_components(image_to_video: bool = False) -> dict:
    """`MotifVideoPipeline` components or, with `image_to_video`, `MotifVideoImage2VideoPipeline`'s (no image feature
    extractor); Wan 2.1's VAE; latents, condition latents and mask concatenated on the channel axis (16 + 16 + 1
    channels in); pass `prompt_embeds` (width 16) and `prompt_attention_mask`."""
    from diffusers import MotifVideoTransformer3DModel
    from diffusers.guiders import ClassifierFreeGuidance

    torch.manual_seed(0)
    transformer = MotifVideoTransformer3DModel(
        in_channels=33,
        out_channels=16,
        num_attention_heads=2,
        attention_head_dim=8,
        num_layers=1,
        num_single_layers=1,
        patch_size=2,
        patch_size_t=1,
        text_embed_dim=16,
        rope_axes_dim=(2, 2, 4),
    )
    components = _without_text_encoder(transformer, tiny_vae_wan(), FlowMatchEulerDiscreteScheduler(shift=3.0))
    components["guider"] = ClassifierFreeGuidance(guidance_scale=1.0)  # one transformer call per step
    return {**components, "feature_extractor": None} if image_to_video else components


def wan22_components(image_to_video: bool = False, two_stage: bool = False) -> dict:
    """Wan 2.2 components; pass `prompt_embeds` (width 32).

    - default: TI2V-5B (`WanPipeline`, or with `image_to_video` `WanImageToVideoPipeline`, same components): the
      48-channel VAE and `expand_timesteps=True` (the i2v condition is the image alone, blended into latent frame 0).
    - `two_stage`: A14B (`transformer` for high noise, `transformer_2` below `boundary_ratio`), Wan 2.1's VAE; i2v
      without an image encoder (16 + 4 + 16 = 36 channels in, no `image_embeds`).
    """
    scheduler = FlowMatchEulerDiscreteScheduler(shift=7.0)
    if not two_stage:
        components = _without_text_encoder(_tiny_wan_transformer(48, 48), tiny_vae_wan(z_dim=48), scheduler)
        return {**components, "expand_timesteps": True}
    in_channels = 36 if image_to_video else 16
    components = _without_text_encoder(_tiny_wan_transformer(in_channels, 16), tiny_vae_wan(), scheduler)
    return {**components, "transformer_2": _tiny_wan_transformer(in_channels, 16, seed=1), "boundary_ratio": 0.9}


def skyreels_v2_components(image_to_video: bool = False) -> dict:
    """SkyReels-V2 components (Wan's VAE, a `SkyReelsV2Transformer3DModel` of the tiny Wan transformer's shape, a flow
    UniPC scheduler); pass `prompt_embeds` (width 32). `image_to_video`: `SkyReelsV2ImageToVideoPipeline`'s (36
    channels in, a tiny CLIP image encoder); the diffusion-forcing pipelines take the default ones."""
    from diffusers import UniPCMultistepScheduler

    components = wan_components(image_to_video=image_to_video)
    in_channels = 36 if image_to_video else 16
    components["transformer"] = _tiny_wan_transformer(
        in_channels, 16, image_dim=4 if image_to_video else None, skyreels=True
    )
    components["scheduler"] = UniPCMultistepScheduler(
        prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=8.0
    )
    return components


def tiny_vae_ltx(timestep_conditioning: bool = False):
    from diffusers import AutoencoderKLLTXVideo

    torch.manual_seed(0)
    vae = AutoencoderKLLTXVideo(
        latent_channels=8,
        block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 8, 8, 8),
        spatio_temporal_scaling=(True, True, False, False),
        decoder_spatio_temporal_scaling=(True, True, False, False),
        layers_per_block=(1, 1, 1, 1, 1),
        decoder_layers_per_block=(1, 1, 1, 1, 1),
        timestep_conditioning=timestep_conditioning,
        patch_size=1,
        patch_size_t=1,
        encoder_causal=True,
        decoder_causal=False,
        scaling_factor=0.8,
    )
    vae.use_framewise_encoding = False
    vae.use_framewise_decoding = False
    mean, std = _channel_statistics(8, seed=2)
    vae.latents_mean.copy_(torch.tensor(mean))  # registered buffers, as LTX keeps them
    vae.latents_std.copy_(torch.tensor(std))
    return vae


def ltx_components(timestep_conditioning: bool = False) -> dict:
    """`LTXPipeline` / `LTXImageToVideoPipeline` components (same ones); pass `prompt_embeds` (width 32) and
    `prompt_attention_mask`. Spatial compression 4, temporal 4 in this tiny VAE; with `timestep_conditioning` its
    decoder takes a timestep and the pipeline mixes noise into the latents before decoding."""
    from diffusers import LTXVideoTransformer3DModel

    torch.manual_seed(0)
    transformer = LTXVideoTransformer3DModel(
        in_channels=8,
        out_channels=8,
        patch_size=1,
        patch_size_t=1,
        num_attention_heads=4,
        attention_head_dim=8,
        cross_attention_dim=32,
        num_layers=1,
        caption_channels=32,
    )
    return _without_text_encoder(transformer, tiny_vae_ltx(timestep_conditioning))


def hunyuan_video_components(image_condition_type: str | None = None) -> dict:
    """`HunyuanVideoPipeline` components; pass `prompt_embeds` (width 16), `pooled_prompt_embeds` (width 8) and
    `prompt_attention_mask`. With `image_condition_type` (`"latent_concat"`: latents, condition and mask concatenated
    on the channel axis, 4 + 4 + 1 channels in; `"token_replace"`: the condition replaces latent frame 0),
    `HunyuanVideoImageToVideoPipeline`'s, without its LLaVA image processor (the prompt embeddings are passed);
    `"skyreels"`: `HunyuanSkyreelsImageToVideoPipeline`'s (latents and condition concatenated, 4 + 4 channels in)."""
    from diffusers import AutoencoderKLHunyuanVideo, HunyuanVideoTransformer3DModel

    torch.manual_seed(0)
    transformer = HunyuanVideoTransformer3DModel(
        in_channels={"latent_concat": 9, "skyreels": 8}.get(image_condition_type, 4),
        out_channels=4,
        num_attention_heads=2,
        attention_head_dim=10,
        num_layers=1,
        num_single_layers=1,
        num_refiner_layers=1,
        patch_size=1,
        patch_size_t=1,
        guidance_embeds=True,
        text_embed_dim=16,
        pooled_projection_dim=8,
        rope_axes_dim=(2, 4, 4),
        image_condition_type=None if image_condition_type == "skyreels" else image_condition_type,
    )
    torch.manual_seed(0)
    vae = AutoencoderKLHunyuanVideo(
        in_channels=3,
        out_channels=3,
        latent_channels=4,
        down_block_types=("HunyuanVideoDownBlock3D",) * 4,
        up_block_types=("HunyuanVideoUpBlock3D",) * 4,
        block_out_channels=(8, 8, 8, 8),
        layers_per_block=1,
        act_fn="silu",
        norm_num_groups=4,
        scaling_factor=0.476986,
        spatial_compression_ratio=8,
        temporal_compression_ratio=4,
        mid_block_add_attention=True,
    )
    components = _without_text_encoder(transformer, vae, FlowMatchEulerDiscreteScheduler(shift=7.0))
    components = {**components, "text_encoder_2": None, "tokenizer_2": None}
    return components if image_condition_type in (None, "skyreels") else {**components, "image_processor": None}


def hunyuan_video15_components(image_to_video: bool = False) -> dict:
    """`HunyuanVideo15Pipeline` components or, with `image_to_video`, `HunyuanVideo15ImageToVideoPipeline`'s (a tiny
    SigLIP image encoder; the pipeline sizes the video from the image and `transformer.config.target_size`, 32 here);
    pass `hunyuan_video15_prompt_embeds()`. Latents, condition latents and mask are concatenated on the channel axis
    (4 + 4 + 1 channels in); spatial compression 16, temporal 4."""
    from diffusers import AutoencoderKLHunyuanVideo15, HunyuanVideo15Transformer3DModel
    from diffusers.guiders import ClassifierFreeGuidance

    torch.manual_seed(0)
    transformer = HunyuanVideo15Transformer3DModel(
        in_channels=9,
        out_channels=4,
        num_attention_heads=2,
        attention_head_dim=8,
        num_layers=1,
        num_refiner_layers=1,
        mlp_ratio=2.0,
        text_embed_dim=16,
        text_embed_2_dim=8,
        image_embed_dim=12,
        rope_axes_dim=(2, 2, 4),
        target_size=32,
        task_type="i2v" if image_to_video else "t2v",
    )
    torch.manual_seed(0)
    vae = AutoencoderKLHunyuanVideo15(
        latent_channels=4,
        block_out_channels=(8, 8, 8, 8, 8),
        layers_per_block=1,
        spatial_compression_ratio=16,
        temporal_compression_ratio=4,
        scaling_factor=0.8,
    )
    components = {
        **_without_text_encoder(transformer, vae, FlowMatchEulerDiscreteScheduler(shift=7.0)),
        "text_encoder_2": None,
        "tokenizer_2": None,
        "guider": ClassifierFreeGuidance(guidance_scale=1.0),  # one transformer call per step: no negative prompt
    }
    if image_to_video:
        from transformers import SiglipVisionConfig, SiglipVisionModel

        try:  # transformers 5: the PIL processor has its own name (the default one needs torchvision)
            from transformers import SiglipImageProcessorPil
        except ImportError:  # transformers 4: the default processor is the PIL one
            from transformers import SiglipImageProcessor as SiglipImageProcessorPil

        torch.manual_seed(0)
        config = SiglipVisionConfig(
            hidden_size=12,
            intermediate_size=8,
            num_hidden_layers=1,
            num_attention_heads=2,
            image_size=16,
            patch_size=8,
        )
        components.update(
            image_encoder=SiglipVisionModel(config),
            feature_extractor=SiglipImageProcessorPil(size={"height": 16, "width": 16}),
        )
    return components


def hunyuan_video15_prompt_embeds(seed: int = 0) -> dict:
    """The two prompt embeddings (Qwen2.5-VL width 16, ByT5 width 8) and their masks for `hunyuan_video15_components`."""
    g = torch.Generator().manual_seed(seed)
    return {
        "prompt_embeds": torch.randn(1, 8, 16, generator=g),
        "prompt_embeds_mask": torch.ones(1, 8, dtype=torch.long),
        "prompt_embeds_2": torch.randn(1, 6, 8, generator=g),
        "prompt_embeds_mask_2": torch.ones(1, 6, dtype=torch.long),
    }


def cogvideox_components(image_to_video: bool = False, version: str = "1.0") -> dict:
    """`CogVideoXPipeline` / `CogVideoXVideoToVideoPipeline` components, or with `image_to_video`
    `CogVideoXImageToVideoPipeline`'s (the condition latents concatenated on the channel axis, 4 + 4 channels in); pass
    `prompt_embeds` (B, 16, 32). The transformer sees (B, F, C, H, W). `version="1.5"`: a transformer with
    `patch_size_t=2` (the pipelines pad the latent frames to a multiple of it) and rotary embeddings, and for
    image-to-video a VAE whose config sets `invert_scale_latents` (the condition is multiplied by `1 / f`)."""
    from diffusers import AutoencoderKLCogVideoX, CogVideoXTransformer3DModel

    v15 = version == "1.5"
    rotary = v15 or image_to_video
    torch.manual_seed(0)
    transformer = CogVideoXTransformer3DModel(
        num_attention_heads=4,
        attention_head_dim=16 if rotary else 8,
        in_channels=8 if image_to_video else 4,
        out_channels=4,
        time_embed_dim=2,
        ofs_embed_dim=2 if v15 and image_to_video else None,
        text_embed_dim=32,
        num_layers=1,
        sample_width=8 if v15 else 2,  # 1.5's rotary embeddings are sliced from this (latent) size
        sample_height=8 if v15 else 2,
        sample_frames=9,
        patch_size=2,
        patch_size_t=2 if v15 else None,
        temporal_compression_ratio=4,
        max_text_seq_length=16,
        use_rotary_positional_embeddings=rotary,
        patch_bias=not v15,
    )
    torch.manual_seed(0)
    vae = AutoencoderKLCogVideoX(
        in_channels=3,
        out_channels=3,
        down_block_types=("CogVideoXDownBlock3D",) * 4,
        up_block_types=("CogVideoXUpBlock3D",) * 4,
        block_out_channels=(8, 8, 8, 8),
        latent_channels=4,
        layers_per_block=1,
        norm_num_groups=2,
        temporal_compression_ratio=4,
        scaling_factor=0.7,
        invert_scale_latents=v15 and image_to_video,
    )
    return _without_text_encoder(transformer, vae, DDIMScheduler())


def mochi_components() -> dict:
    """`MochiPipeline` components; pass `prompt_embeds` (width 32) and `prompt_attention_mask`."""
    from diffusers import AutoencoderKLMochi, MochiTransformer3DModel

    torch.manual_seed(0)
    transformer = MochiTransformer3DModel(
        patch_size=2,
        num_attention_heads=2,
        attention_head_dim=8,
        num_layers=1,
        pooled_projection_dim=16,
        in_channels=12,
        out_channels=None,
        qk_norm="rms_norm",
        text_embed_dim=32,
        time_embed_dim=4,
        activation_fn="swiglu",
        max_sequence_length=16,
    )
    torch.manual_seed(0)
    vae = AutoencoderKLMochi(
        latent_channels=12,
        out_channels=3,
        encoder_block_out_channels=(32, 32, 32, 32),
        decoder_block_out_channels=(32, 32, 32, 32),
        layers_per_block=(1, 1, 1, 1, 1),
        scaling_factor=0.9,
    )
    mean, std = _channel_statistics(12, seed=3)
    vae.register_to_config(latents_mean=mean, latents_std=std)
    return _without_text_encoder(transformer, vae)


def video_prompt_embeds(width: int, batch_size: int = 1, length: int = 8, seed: int = 0) -> dict:
    """Prompt embeddings (B, length, width) and an all-ones attention mask, for video pipelines without a text encoder."""
    g = torch.Generator().manual_seed(seed)
    return {
        "prompt_embeds": torch.randn(batch_size, length, width, generator=g),
        "prompt_attention_mask": torch.ones(batch_size, length, dtype=torch.long),
    }
