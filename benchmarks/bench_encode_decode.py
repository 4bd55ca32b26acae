"""Stock diffusers vs diffusers-scaled, end to end: images in -> latents, latents -> images out.

Prints a table of median times and ratios (stock / ours: above 1 means ours is faster) and the peak memory each call
takes above what was in use before it (CUDA: `torch.cuda.max_memory_allocated`; CPU: the process's peak resident set,
reset through `/proc/self/clear_refs` before each call, Linux only). Before timing, each pair of paths is checked to
give identical results. Random-initialised VAEs: speed does not depend on the weights.

    python benchmarks/bench_encode_decode.py              # CPU configurations (and CUDA ones when a GPU is present)
    python benchmarks/bench_encode_decode.py --repeats 20
"""

import argparse
import gc
import re
import statistics
import time

import numpy as np
import PIL.Image
import torch
from diffusers import AutoencoderKL
from diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion_img2img import retrieve_latents

from diffusers_scaled import ScaledStableDiffusionImg2ImgPipeline


SD_VAE = {
    "block_out_channels": [128, 256, 512, 512],
    "down_block_types": ["DownEncoderBlock2D"] * 4,
    "up_block_types": ["UpDecoderBlock2D"] * 4,
    "layers_per_block": 2,
    "latent_channels": 4,
}
TINY_VAE = {**SD_VAE, "block_out_channels": [8, 8, 16, 16], "layers_per_block": 1, "norm_num_groups": 4}


def make_pipe(vae_config, device, dtype):
    torch.manual_seed(0)
    vae = AutoencoderKL(**vae_config).to(device, dtype).eval()
    pipe = ScaledStableDiffusionImg2ImgPipeline(
        vae=vae, text_encoder=None, tokenizer=None, unet=None, scheduler=None, safety_checker=None,
        feature_extractor=None, requires_safety_checker=False,
    )  # fmt: skip
    return pipe


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def median_ms(fn, device, repeats):
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        sync(device)
        start = time.perf_counter()
        fn()
        sync(device)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def paired_median_ms(first, second, device, repeats):
    """Median times of two functions timed alternately, so that drift in machine load hits both alike."""
    times = ([], [])
    for _ in range(repeats):
        for fn, out in zip((first, second), times):
            out.append(median_ms(fn, device, 1))
    return statistics.median(times[0]), statistics.median(times[1])


def _status_mib(key):
    with open("/proc/self/status") as f:
        return int(re.search(rf"{key}:\s+(\d+) kB", f.read()).group(1)) / 1024


def peak_mib(fn, device, repeats=3):
    """Largest extra memory one call of `fn` takes above what is in use before it (max over `repeats` calls)."""
    peaks = []
    for _ in range(repeats):
        gc.collect()
        if device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            before = torch.cuda.memory_allocated()
            fn()
            torch.cuda.synchronize()
            peaks.append((torch.cuda.max_memory_allocated() - before) / 2**20)
        else:
            try:
                with open("/proc/self/clear_refs", "w") as f:
                    f.write("5")  # resets the peak resident set (VmHWM) to the current one
            except OSError:
                return float("nan")
            before = _status_mib("VmRSS")
            fn()
            peaks.append(_status_mib("VmHWM") - before)
    return max(peaks)


def images(batch, size):
    rng = np.random.default_rng(0)
    return [PIL.Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)) for _ in range(batch)]


@torch.no_grad()
def run(name, vae_config, device, dtype, size, batch, repeats):
    pipe = make_pipe(vae_config, device, dtype)
    vae, processor, sf = pipe.vae, pipe.image_processor, pipe.vae.config.scaling_factor
    pil = images(batch, size)

    def stock_encode():
        x = processor.preprocess(pil).to(device, dtype)
        return retrieve_latents(vae.encode(x), sample_mode="argmax") * sf

    def ours_encode():
        return pipe.encode_latents(pil, sample_mode="argmax")

    latents = stock_encode()

    def stock_decode():
        return processor.postprocess(vae.decode(latents / sf).sample, output_type="pil")

    def ours_decode():
        return pipe.decode_latents(latents, output_type="pil")

    assert torch.equal(stock_encode(), ours_encode()), "encode results differ"
    assert all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(stock_decode(), ours_decode()))
    rows = []
    for stage, stock, ours in (
        ("encode (PIL in)", stock_encode, ours_encode),
        ("decode (PIL out)", stock_decode, ours_decode),
    ):
        s, o = paired_median_ms(stock, ours, device, repeats)
        memory = (peak_mib(stock, device), peak_mib(ours, device))
        rows.append(
            (
                name,
                f"{device.type} {str(dtype).replace('torch.', '')}",
                f"{size}x{size} bs{batch}",
                stage,
                s,
                o,
                *memory,
            )
        )
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()

    configs = [
        ("tiny VAE", TINY_VAE, torch.device("cpu"), torch.float32, 256, 4),
        ("SD VAE", SD_VAE, torch.device("cpu"), torch.float32, 128, 1),
        ("SD VAE", SD_VAE, torch.device("cpu"), torch.float32, 256, 1),
    ]
    if torch.cuda.is_available():
        cuda = torch.device("cuda")
        configs += [("SD VAE", SD_VAE, cuda, torch.float16, 512, 1), ("SD VAE", SD_VAE, cuda, torch.float16, 1024, 4)]

    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, repeats {args.repeats} (median)")
    print(
        f"{'VAE':<9}{'device':<15}{'shape':<14}{'stage':<18}{'stock ms':>10}{'ours ms':>10}{'stock/ours':>12}"
        f"{'stock MiB':>11}{'ours MiB':>10}"
    )
    for config in configs:
        for name, device, shape, stage, stock, ours, stock_mib, ours_mib in run(*config, repeats=args.repeats):
            print(
                f"{name:<9}{device:<15}{shape:<14}{stage:<18}{stock:>10.1f}{ours:>10.1f}{stock / ours:>12.2f}"
                f"{stock_mib:>11.1f}{ours_mib:>10.1f}"
            )


if __name__ == "__main__":
    main()
