"""`import diffusers_scaled` is instant and silent: it imports neither the tools, the CLI, torch nor diffusers, and
prints nothing; each public name is imported on first access."""

import importlib
import os
import subprocess
import sys
import textwrap

import pytest

import diffusers_scaled


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(code: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env)


def test_import_loads_nothing_heavy_and_prints_nothing():
    result = run(
        """
        import sys
        before = set(sys.modules)
        import diffusers_scaled
        new = sorted(set(sys.modules) - before)
        print(",".join(new))
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    loaded = result.stdout.strip().split(",")
    assert "diffusers_scaled" in loaded
    for module in ("diffusers_scaled.tools", "diffusers_scaled.cli", "diffusers", "torch", "transformers"):
        assert module not in loaded


def test_a_ready_class_imports_only_its_own_pipeline():
    result = run(
        """
        import sys
        from diffusers_scaled import ScaledStableDiffusionPipeline
        print(",".join(sorted(m for m in sys.modules if m.startswith("diffusers_scaled"))))
        """
    )
    assert result.returncode == 0, result.stderr
    loaded = result.stdout.strip().split(",")
    assert "diffusers_scaled.pipelines.pipeline_scaled_stable_diffusion" in loaded
    assert "diffusers_scaled.pipelines.pipeline_scaled_flux" not in loaded
    assert "diffusers_scaled.tools" not in loaded and "diffusers_scaled.cli" not in loaded


@pytest.mark.parametrize("name", diffusers_scaled.__all__)
def test_every_public_name_resolves(name):
    stock_name = diffusers_scaled.pipelines.READY_CLASSES.get(name, (None, None))[1]
    if stock_name is not None and not hasattr(importlib.import_module("diffusers"), stock_name):
        pytest.skip(f"{name} extends {stock_name}, which the installed diffusers does not have")
    assert getattr(diffusers_scaled, name) is not None
    assert name in dir(diffusers_scaled)


def test_unknown_names_raise_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'NoSuchThing'"):
        diffusers_scaled.NoSuchThing  # noqa: B018
