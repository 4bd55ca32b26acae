"""Importing diffusers_scaled and using every loading and saving path changes nothing of diffusers.

In a fresh process: diffusers is imported and exercised through the stock paths (so that its own lazy imports and caches
settle), every attribute of every diffusers module and class is recorded, then diffusers_scaled is imported and every
path of ours is used, and the attributes are compared: same objects, and containers with the same contents. Then, in
the same process, a control assigns one attribute to a diffusers class, which the comparison must catch.
"""

import os
import subprocess
import sys
import textwrap

import pytest


SCRIPT = textwrap.dedent(
    r"""
    import inspect, os, sys, tempfile, types
    sys.path.insert(0, {tests!r})
    import diffusers
    from diffusers import DiffusionPipeline, StableDiffusionPipeline, StableDiffusionImg2ImgPipeline
    from diffusers import StableDiffusionXLPipeline
    from fixtures import sd_components, sdxl_components

    def record(value):
        for container in (dict, list, set, tuple):  # a shallow copy, to catch contents changed in place
            if isinstance(value, container):
                return value, container(value)
        return value, None

    def snapshot():
        found = {{}}
        for name, module in list(sys.modules.items()):
            if not (name == "diffusers" or name.startswith("diffusers.")) or not isinstance(module, types.ModuleType):
                continue
            found[name] = {{k: record(v) for k, v in list(vars(module).items())}}
            for value in list(vars(module).values()):
                if isinstance(value, type) and value.__module__.startswith("diffusers"):
                    key = f"{{value.__module__}}.{{value.__qualname__}}"
                    found.setdefault(key, {{k: record(v) for k, v in list(vars(value).items())}})
        return found

    def diffusers_origin(value):
        module = value.__name__ if isinstance(value, types.ModuleType) else getattr(value, "__module__", None)
        return isinstance(module, str) and (module == "diffusers" or module.startswith("diffusers."))

    def compare(before, after):
        problems = []
        for owner, attrs in before.items():
            now = after.get(owner, {{}})
            for key, (value, contents) in attrs.items():
                if key not in now:
                    problems.append(f"{{owner}}.{{key}} removed")
                    continue
                new_value, new_contents = now[key]
                if new_value is not value:
                    problems.append(f"{{owner}}.{{key}} replaced: {{value!r:.80}} -> {{new_value!r:.80}}")
                elif contents is not None and not _same(contents, new_contents):
                    problems.append(f"{{owner}}.{{key}} contents changed")
            for key in now.keys() - attrs.keys() - {{"__warningregistry__"}}:  # Python's record of warnings shown
                if not diffusers_origin(now[key][0]):  # a lazy import of diffusers' own would be fine
                    problems.append(f"{{owner}}.{{key}} added: {{now[key][0]!r:.80}}")
        return problems

    def _same(a, b):
        try:
            return bool(a == b)
        except Exception:  # e.g. containers of tensors
            return len(a) == len(b) and all(x is y for x, y in zip(a, b))

    def stock_paths(root):
        sd = StableDiffusionPipeline(**sd_components())
        sd.save_pretrained(os.path.join(root, "sd"))
        DiffusionPipeline.from_pretrained(os.path.join(root, "sd"))
        StableDiffusionImg2ImgPipeline.from_pipe(sd)
        diffusers.AutoPipelineForInpainting.from_pipe(diffusers.AutoPipelineForImage2Image.from_pipe(sd))
        diffusers.AutoPipelineForText2Image.from_pretrained(os.path.join(root, "sd"))
        sd("x", num_inference_steps=1, height=32, width=32, output_type="np")
        StableDiffusionXLPipeline(**sdxl_components()).save_pretrained(os.path.join(root, "sdxl"))
        DiffusionPipeline.from_pretrained(os.path.join(root, "sdxl"))
        # diffusers' own custom-pipeline machinery, with a plain file of the user's
        with open(os.path.join(root, "plain.py"), "w") as f:
            f.write("from diffusers import StableDiffusionPipeline\nclass Plain(StableDiffusionPipeline):\n    pass\n")
        DiffusionPipeline.from_pretrained(os.path.join(root, "sd"), custom_pipeline=os.path.join(root, "plain.py"),
                                          trust_remote_code=True)

    def scaled_paths(root):
        import diffusers_scaled as ds
        from diffusers_scaled import ScaledLatentsMixin

        class Mine(ScaledLatentsMixin, StableDiffusionPipeline):
            pass

        for cls, factory in ((ds.ScaledStableDiffusionPipeline, sd_components),
                             (ds.ScaledStableDiffusionXLPipeline, sdxl_components)):
            pipe = cls(**factory())
            out = os.path.join(root, cls.__name__)
            pipe.save_pretrained(out)
            pipe.save_pretrained(out + "-stock", stock_format=True)
            DiffusionPipeline.from_pretrained(out, trust_remote_code=True)
            DiffusionPipeline.from_pretrained(out + "-stock")
            cls.from_pretrained(out)
            cls.from_pretrained(os.path.join(root, "sd" if factory is sd_components else "sdxl"))
            ds.AutoScaledPipeline.from_pretrained(out)
            DiffusionPipeline.from_pretrained(out + "-stock", custom_pipeline=ds.custom_pipeline_path(cls, root),
                                              trust_remote_code=True)
            latents = pipe("x", num_inference_steps=1, height=32, width=32, output_type="latent").images
            pipe.encode_latents(pipe.decode_latents(latents, output_type="pil"))
        img2img = ds.ScaledStableDiffusionImg2ImgPipeline.from_pipe(ds.AutoScaledPipeline.from_pretrained(
            os.path.join(root, "sd")))
        ds.AutoScaledPipeline.from_pipe(img2img)
        inpaint = ds.AutoScaledPipelineForInpainting.from_pipe(ds.AutoScaledPipelineForText2Image.from_pipe(img2img))
        ds.AutoScaledPipelineForImage2Image.from_pipe(inpaint)
        ds.AutoScaledPipelineForImage2Image.from_pretrained(os.path.join(root, "ScaledStableDiffusionXLPipeline"))
        Mine(**sd_components()).save_pretrained(os.path.join(root, "mine"), stock_format=True)
        ds.get_scaled_pipeline_class("StableDiffusionXLPipeline")
        ds.get_stock_pipeline_class(Mine)

    with tempfile.TemporaryDirectory() as root:
        stock_paths(root)
        before = snapshot()
        scaled_paths(root)
    after = snapshot()
    problems = compare(before, after)
    print(f"checked {{sum(map(len, before.values()))}} attributes of {{len(before)}} modules and classes")
    print("\n".join(problems) if problems else "NO CHANGES")
    # the control, in the same process (it would need the same seconds of set-up in its own)
    StableDiffusionPipeline.encode_latents = lambda self: None  # what this package must never do
    print("CONTROL")
    print("\n".join(compare(after, snapshot())))
    """
)


@pytest.fixture(scope="module")
def report() -> tuple[list[str], list[str]]:
    """The lines the check prints, and those of its control."""
    tests = os.path.dirname(os.path.abspath(__file__))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(tests=tests)], capture_output=True, text=True, env=env, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    check, control = result.stdout.strip().split("\nCONTROL\n")
    return check.splitlines(), control.splitlines()


def test_diffusers_is_unchanged_by_importing_and_using_diffusers_scaled(report):
    lines, _ = report
    assert lines[0].startswith("checked ")
    assert lines[1:] == ["NO CHANGES"]


def test_control_a_monkeypatch_is_caught(report):
    _, control = report
    assert any(".StableDiffusionPipeline.encode_latents added" in line for line in control), control
