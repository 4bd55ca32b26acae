"""Tiny models and inputs for the test-suite, built from configs: nothing is downloaded.

The component configs follow diffusers' own fast pipeline tests, made smaller where a test only needs the plumbing.
"""

from __future__ import annotations

import json
import os
import tempfile
from functools import lru_cache

import numpy as np
import PIL.Image
import torch
from diffusers import (
    AutoencoderKL,
    AutoencoderTiny,
    DDIMScheduler,
    EulerDiscreteScheduler,
    UNet2DConditionModel,
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


VAE_FACTORIES = {"kl": tiny_vae_kl, "tiny": tiny_vae_tiny}


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


def sdxl_components(vae: str = "kl") -> dict:
    """Components of a tiny Stable Diffusion XL pipeline (text-to-image, img2img)."""
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
        cross_attention_dim=64,
        norm_num_groups=1,
    )
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, steps_offset=1, beta_schedule="scaled_linear", timestep_spacing="leading"
    )
    torch.manual_seed(0)
    text_encoder = CLIPTextModel(_text_encoder_config(hidden_act="gelu", projection_dim=32))
    torch.manual_seed(0)
    text_encoder_2 = CLIPTextModelWithProjection(_text_encoder_config(hidden_act="gelu", projection_dim=32))
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


def generator(seed: int = 0) -> torch.Generator:
    return torch.Generator("cpu").manual_seed(seed)
