import json
import os
import re

import numpy as np
import PIL.Image
import pytest
import torch
from _compare import folder_tree, shard_contents
from diffusers import AutoencoderKL
from diffusers.image_processor import VaeImageProcessor
from fixtures import fail_each_write_step, make_pil_images, tiny_vae_kl, write_image_folder

from diffusers_scaled.cli import COMMANDS, main
from diffusers_scaled.cli.roundtrip import psnr, roundtrip
from diffusers_scaled.tools import calibrate, encode_to_cache, load_cache, sample_image_path


@pytest.fixture
def vae_dir(tmp_path):
    path = str(tmp_path / "vae")
    tiny_vae_kl().save_pretrained(path)
    return path


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(([command] if command else []) + ["--help"])
    assert exit_info.value.code == 0
    assert "usage: diffusers-scaled" in capsys.readouterr().out


@pytest.mark.parametrize(
    "command, default, why",
    [("roundtrip", "argmax", "reconstruction"), ("calibrate", "sample", "training"), ("encode", "sample", "training")],
)
def test_sample_mode_help_says_its_default_and_why(command, default, why, capsys):
    # The defaults differ on purpose (a picture of the VAE's reconstruction; the latents training sees): `--help` says
    # which and why.
    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps the help text
    help_text = re.search(r"--sample-mode \{sample,argmax\} (a posterior.*?)(?: --|$)", text).group(1)
    assert f"default: {default}," in help_text and why in help_text


def test_roundtrip_is_the_stock_encode_decode_arithmetic():
    vae = tiny_vae_kl()
    image = make_pil_images(1, size=(20, 16))[0]
    result = roundtrip(vae, image, sample_mode="argmax")

    # The stock path, written out as the SD img2img / text-to-image pipelines do it.
    processor = VaeImageProcessor(vae_scale_factor=2)
    with torch.no_grad():
        pixels = processor.preprocess(image)
        latents = vae.encode(pixels).latent_dist.mode() * vae.config.scaling_factor
        decoded = vae.decode(latents / vae.config.scaling_factor, return_dict=False)[0]
    assert np.array_equal(result["scaled"], latents[0].numpy())
    assert np.array_equal(result["reconstruction"], processor.postprocess(decoded, output_type="np")[0])
    assert np.array_equal(result["original"], processor.postprocess(pixels, output_type="np")[0])
    assert result["psnr"] == psnr(result["original"], result["reconstruction"])


def test_default_roundtrip_reaches_24_db_on_the_held_out_sample(tmp_path, capsys):
    assert main(["roundtrip", "--output", str(tmp_path / "roundtrip.png")]) == 0
    out = capsys.readouterr().out
    value = float(out.split("PSNR:")[1].split("dB")[0])
    assert value >= 24.0, out  # the acceptance bar of the embedded VAE (issue 6)
    picture = PIL.Image.open(tmp_path / "roundtrip.png")
    assert picture.width == 3 * 256 and picture.height > 256
    assert os.path.basename(sample_image_path()) in out


def test_roundtrip_with_a_model_folder_and_image(tmp_path, vae_dir, capsys):
    image = tmp_path / "in.png"
    make_pil_images(1, size=(24, 20))[0].save(image)
    assert main(["roundtrip", str(image), "--model", vae_dir, "--output", str(tmp_path / "out.png")]) == 0
    assert "PSNR:" in capsys.readouterr().out
    assert (tmp_path / "out.png").is_file()


def test_calibrate_command_equals_the_function(tmp_path, vae_dir, capsys):
    folder = write_image_folder(str(tmp_path / "images"), n=3)
    arguments = ["calibrate", folder, "--model", vae_dir, "--batch-size", "2", "--resolution", "16"]
    assert main(arguments + ["--output", str(tmp_path / "stats.json"), "--write", str(tmp_path / "calibrated")]) == 0
    out = capsys.readouterr().out
    assert "scaling_factor = 1/std" in out
    saved = json.loads((tmp_path / "stats.json").read_text())
    expected = calibrate(vae_dir, folder, batch_size=2, resolution=16, progress=False)
    assert f"VAE with scaling_factor={expected.scaling_factor:.6g} saved to" in out
    assert saved["scaling_factor"] == expected.scaling_factor and saved["channel_std"] == expected.channel_std
    config = json.loads((tmp_path / "calibrated" / "config.json").read_text())
    assert config["scaling_factor"] == expected.scaling_factor

    assert main(["info", "--model", str(tmp_path / "calibrated"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["scaling"] == {"scaling_factor": expected.scaling_factor}
    assert info["calibration"]["num_images"] == 3


def test_calibrate_command_writes_both_outputs_or_neither(tmp_path, vae_dir):
    # `--output` and `--write` together: with any one write step failing, nothing of either is left (`--traceback`
    # lets the injected failure through the command's error handler).
    folder = write_image_folder(str(tmp_path / "images"), n=3)
    out = tmp_path / "out"
    out.mkdir()
    (out / "stats.json").write_text("{}", encoding="utf-8")  # an old file, to be kept on failure
    arguments = ["--traceback", "calibrate", folder, "--model", vae_dir, "--batch-size", "2", "--resolution", "16"]
    arguments += ["--no-preview", "--output", str(out / "stats.json"), "--write", str(out / "calibrated")]
    before = folder_tree(out)

    def unchanged():
        assert folder_tree(out) == before

    assert fail_each_write_step(lambda: main(arguments), unchanged) >= 6
    assert sorted(os.listdir(out)) == ["calibrated", "stats.json"]
    assert (
        json.loads((out / "stats.json").read_text())["scaling_factor"]
        == json.loads((out / "calibrated" / "config.json").read_text())["scaling_factor"]
    )


def test_an_unreadable_image_stops_with_one_line_that_names_it_or_is_skipped(tmp_path, vae_dir, capsys):
    folder = write_image_folder(str(tmp_path / "images"), n=3)
    broken = os.path.join(folder, "zz-broken.png")
    with open(broken, "wb") as f:
        f.write(b"not an image")
    options = ["--model", vae_dir, "--batch-size", "2", "--resolution", "16"]
    for command in (["calibrate", folder], ["encode", folder, str(tmp_path / "cache")]):
        assert main(command + options) == 1
        lines = capsys.readouterr().err.split("\n")
        # the progress bar is closed first: the message is a line of its own, and the last one
        assert lines[-1] == "" and lines[-2].startswith(
            f"diffusers-scaled {command[0]}: error: Cannot read the image file `{broken}`"
        )
        assert "`--skip-bad-images`" in lines[-2] and sum("error:" in line for line in lines) == 1

        assert main(command + options + ["--skip-bad-images"]) == 0
        # logged above the bar: at the start of a line (tqdm clears the bar's line with `\r` first)
        lines = re.split(r"[\r\n]", capsys.readouterr().err)
        assert any(line.startswith(f"skipped `{broken}`, which cannot be read") for line in lines)
    assert [e["source"] for e in json.loads((tmp_path / "cache" / "cache.json").read_text())["skipped"]] == [broken]


def test_encode_command(tmp_path, vae_dir, capsys):
    folder = write_image_folder(str(tmp_path / "images"), n=3)
    arguments = ["encode", folder, str(tmp_path / "cache"), "--model", vae_dir, "--shard-size", "2"]
    assert main(arguments + ["--resolution", "16", "--raw"]) == 0
    assert "3 images in 2 shards" in capsys.readouterr().out
    entries = list(load_cache(tmp_path / "cache"))
    assert [tuple(t.shape) for _, t in entries] == [(4, 8, 8)] * 3


def test_encode_command_training_options(tmp_path, vae_dir, capsys):
    """The options reach `encode_to_cache`: the CLI cache equals the API cache, file for file."""
    folder = write_image_folder(str(tmp_path / "images"), n=3, sizes=((40, 24), (24, 40)))
    arguments = ["encode", folder, str(tmp_path / "cli"), "--model", vae_dir, "--resolution", "16", "--buckets",
                 "12x20,20x12", "--crop", "random", "--flip", "--alpha-mask", "--store", "distribution",
                 "--store-dtype", "bfloat16", "--seed", "3"]  # fmt: skip
    assert main(arguments) == 0
    assert "stored as distribution" in capsys.readouterr().out
    vae = AutoencoderKL.from_pretrained(vae_dir)
    encode_to_cache(vae, folder, tmp_path / "api", resolution=16, buckets=[(12, 20), (20, 12)], crop="random",
                    flip=True, alpha_mask=True, store="distribution", dtype="bfloat16", seed=3, vae_name=vae_dir,
                    progress=False)  # fmt: skip
    assert shard_contents(tmp_path / "cli") == shard_contents(tmp_path / "api")
    help_text = main_help(["encode"])
    for option in ("--buckets", "--min-size", "--max-size", "--step", "--crop", "--flip", "--alpha-mask", "--store",
                   "--store-dtype", "--append"):  # fmt: skip
        assert option in help_text


def main_help(command):
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        main([*command, "--help"])
    return out.getvalue()


def test_encode_command_speed_options(tmp_path, vae_dir):
    # --workers changes nothing; --compile runs inductor (4 images in batches of 2: the second batch of the shape is
    # compiled), whose kernels order float32 sums differently: equal to eager within accumulated float32 rounding
    # (measured: 1e-6 of the largest value at this size, 3e-5 for 256x256 images; allowed: 1e-4).
    folder = write_image_folder(str(tmp_path / "images"), n=4)
    common = [folder, "--model", vae_dir, "--batch-size", "2", "--resolution", "16", "--sample-mode", "argmax"]
    assert main(["encode", common[0], str(tmp_path / "plain"), *common[1:], "--workers", "0"]) == 0
    assert main(["encode", common[0], str(tmp_path / "threads"), *common[1:], "--workers", "3"]) == 0
    graphs = torch._dynamo.utils.counters["stats"]["unique_graphs"]
    assert main(["encode", common[0], str(tmp_path / "compiled"), *common[1:], "--compile"]) == 0
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] > graphs  # the compiled path ran
    plain = [t for _, t in load_cache(tmp_path / "plain")]
    assert all(torch.equal(a, b) for a, b in zip(plain, (t for _, t in load_cache(tmp_path / "threads"))))
    compiled = [t for _, t in load_cache(tmp_path / "compiled")]
    assert len(compiled) == len(plain) == 4
    for a, b in zip(plain, compiled):
        torch.testing.assert_close(b, a, rtol=0, atol=1e-4 * a.abs().max().item())


def test_info_on_a_pipeline_folder_and_the_default(tmp_path, vae_dir, capsys):
    pipeline = tmp_path / "pipeline"
    os.makedirs(pipeline)
    (pipeline / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionPipeline"}))
    os.rename(vae_dir, pipeline / "vae")
    assert main(["info", "--model", str(pipeline)]) == 0
    out = capsys.readouterr().out
    assert "scaling_factor:   0.18215" in out and "scaled = scaling_factor * z" in out
    assert main(["info"]) == 0
    assert "calibrated on" in capsys.readouterr().out  # the embedded VAE ships its calibration


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["info", "--model", "/nonexistent/vae"], "`--model` is `/nonexistent/vae`, which does not exist"),
        (["calibrate", "/nonexistent/images"], "`images` must be an image folder or file"),
        (["roundtrip", "/nonexistent.png"], "`image` is `/nonexistent.png`, which is missing"),
        (["encode", "/nonexistent/images", "/tmp/x"], "`images` must be an image folder or file"),
        (["verify", "/nonexistent/cache"], "is not a folder"),
    ],
)
def test_errors_are_messages_not_tracebacks(arguments, message, capsys):
    assert main(arguments) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_bad_option_values_are_usage_errors(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["calibrate", "x", "--batch-size", "0"])
    assert exit_info.value.code == 2
    assert "expected a positive integer" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["encode", "x", "y", "--workers", "-1"])
    assert "expected a non-negative integer, got '-1'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["encode", "x", "y", "--buckets", "12by20"])
    assert "expected 'none', 'sdxl', 'generate' or sizes like" in capsys.readouterr().err


# `info`: the family and its formula ------------------------------------------------------------------------------


def _one_pipeline_per_format():
    from diffusers_scaled.formats import _table

    names = {}
    for name, (fmt, _) in _table.PROVEN.items():
        names.setdefault(fmt.name, name)
    return sorted(names.values())


@pytest.mark.parametrize("pipeline_name", _one_pipeline_per_format())
def test_info_names_the_family_and_formula_of_every_format(pipeline_name, tmp_path, vae_dir, capsys):
    # `info` reads the pipeline class from `model_index.json` and its family from the explicit table (the VAE itself
    # is only loaded: one tiny VAE serves every family here).
    import diffusers

    from diffusers_scaled.formats import format_for

    try:
        pipeline_class = getattr(diffusers, pipeline_name, None)
    except RuntimeError:  # diffusers' lazy import failed (an optional dependency): not available here
        pipeline_class = None
    if pipeline_class is None:
        pytest.skip(f"{pipeline_name} is not in diffusers {diffusers.__version__} (or cannot be imported here)")
    fmt = format_for(pipeline_class)
    pipeline = tmp_path / "pipeline"
    os.makedirs(pipeline)
    (pipeline / "model_index.json").write_text(json.dumps({"_class_name": pipeline_name}))
    os.rename(vae_dir, pipeline / "vae")
    assert main(["info", "--model", str(pipeline)]) == 0
    out = capsys.readouterr().out
    assert f"pipeline:         {pipeline_name}\n" in out
    assert f"family:           {fmt.describe()}\n" in out and fmt.formula in out
    assert main(["info", "--model", str(pipeline), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["families"] == [{"name": fmt.name, "formula": fmt.formula, "description": fmt.describe()}]


def test_info_on_a_video_vae_lists_its_families_and_reads_no_scaling_factor(tmp_path, capsys):
    from diffusers import AutoencoderKLWan
    from fixtures import tiny_vae_wan

    from diffusers_scaled.formats import formats_for_vae, video

    tiny_vae_wan().save_pretrained(tmp_path / "wan")
    assert main(["info", "--model", str(tmp_path / "wan"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    names = [f["name"] for f in report["families"]]
    assert names == [fmt.name for fmt in formats_for_vae(AutoencoderKLWan)]  # what the table says, in its order
    assert names[:2] == [video.WAN.name, video.WAN_I2V.name]  # (+ SkyReels-V2's where diffusers can import it)
    assert report["scaling"] is None and "family's format" in report["formula"]
    assert report["vae_scale_factor"] == 8


def test_info_on_a_refused_pipeline_says_why(tmp_path, vae_dir, capsys):
    pipeline = tmp_path / "pipeline"
    os.makedirs(pipeline)
    (pipeline / "model_index.json").write_text(json.dumps({"_class_name": "CosmosTextToWorldPipeline"}))
    os.rename(vae_dir, pipeline / "vae")
    assert main(["info", "--model", str(pipeline)]) == 0
    assert (
        "family:           none: `CosmosTextToWorldPipeline` has no proven latent format (a video"
        in capsys.readouterr().out
    )
