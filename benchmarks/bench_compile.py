"""The opt-in compiled VAE path (`pipe.enable_vae_compile()`) against eager, and dataset encoding throughput.

Prints, per configuration: compilation time of the first compiled call, median eager and compiled times, their
ratio, the largest relative difference between eager and compiled outputs, and images per second for a dataset-style
loop (stock `preprocess` + `vae.encode` + factor vs `encode_latents` with the compiled path).

    python benchmarks/bench_compile.py                  # tiny VAE on CPU (about a minute of compilation)
    python benchmarks/bench_compile.py --vae sd --size 256
"""

import argparse
import time

import torch
from bench_encode_decode import SD_VAE, TINY_VAE, images, make_pipe, median_ms, paired_median_ms, sync
from diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion_img2img import retrieve_latents


@torch.no_grad()
def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vae", choices=["tiny", "sd"], default="tiny")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batches", type=int, default=8, help="batches in the dataset-encoding loop")
    args = parser.parse_args()

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dtype = torch.float16 if device.type == "cuda" else torch.float32
    pipe = make_pipe(SD_VAE if args.vae == "sd" else TINY_VAE, device, dtype)
    vae, sf = pipe.vae, pipe.vae.config.scaling_factor
    pil = images(args.batch, args.size)
    latents = pipe.encode_latents(pil, sample_mode="argmax")

    eager = {
        "encode": lambda: pipe.encode_latents(pil, sample_mode="argmax"),
        "decode": lambda: pipe.decode_latents(latents, output_type="pt"),
    }
    eager_out = {k: f() for k, f in eager.items()}
    eager_ms = {k: median_ms(f, device, args.repeats) for k, f in eager.items()}

    pipe.enable_vae_compile(min_calls=1)
    compile_s = {}
    for k, f in eager.items():
        sync(device)
        start = time.perf_counter()
        compiled_out = f()
        sync(device)
        compile_s[k] = time.perf_counter() - start
        diff = ((compiled_out.float() - eager_out[k].float()).abs().max() / eager_out[k].float().abs().max()).item()
        compile_s[k] = (compile_s[k], diff)
    compiled_ms = {k: median_ms(f, device, args.repeats) for k, f in eager.items()}

    print(f"torch {torch.__version__}, {device.type} {dtype}, {args.vae} VAE, {args.size}x{args.size} bs{args.batch}")
    print(f"{'stage':<8}{'compile s':>10}{'eager ms':>10}{'compiled ms':>13}{'speed-up':>10}{'max rel diff':>14}")
    for k in eager:
        s, diff = compile_s[k]
        print(
            f"{k:<8}{s:>10.1f}{eager_ms[k]:>10.1f}{compiled_ms[k]:>13.1f}{eager_ms[k] / compiled_ms[k]:>10.2f}{diff:>14.2e}"
        )

    def stock_loop():
        for _ in range(args.batches):
            x = pipe.image_processor.preprocess(pil).to(device, dtype)
            retrieve_latents(vae.encode(x), sample_mode="argmax") * sf

    def ours_loop():
        for _ in range(args.batches):
            pipe.encode_latents(pil, sample_mode="argmax")

    n = args.batches * args.batch
    stock_ms, ours_ms = paired_median_ms(stock_loop, ours_loop, device, 5)
    stock_ips, ours_ips = n / (stock_ms / 1000), n / (ours_ms / 1000)
    print(
        f"dataset encoding: stock {stock_ips:.1f} img/s, ours (compiled) {ours_ips:.1f} img/s, x{ours_ips / stock_ips:.2f}"
    )


if __name__ == "__main__":
    main()
