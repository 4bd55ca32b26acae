import re

from setuptools import find_packages, setup


REPOSITORY = "https://github.com/diffusers-scaled/diffusers-scaled"
with open("diffusers_scaled/__init__.py", encoding="utf-8") as f:
    VERSION = re.search(r'^__version__ = "([^"]+)"$', f.read(), re.MULTILINE).group(1)  # the one place it is written

# `encode_to_cache_ray` / `encode --engine ray`: the latent cache written by a Ray Data pipeline (the release tested)
RAY = ["ray[data]>=2.60"]

setup(
    name="diffusers-scaled",
    version=VERSION,
    description="Exact, non-deprecated encode_latents / decode_latents for Hugging Face diffusers pipelines.",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    license_files=["LICENSE"],
    url=REPOSITORY,
    project_urls={
        "Documentation": f"{REPOSITORY}/blob/main/docs/index.md",
        "Source": REPOSITORY,
        "Issues": f"{REPOSITORY}/issues",
    },
    author="The diffusers-scaled authors",
    packages=find_packages(include=["diffusers_scaled", "diffusers_scaled.*"]),
    include_package_data=True,
    package_data={"diffusers_scaled": ["assets/**/*"]},
    python_requires=">=3.10",
    # Install torch first (a CPU or CUDA wheel of your choice): a bare `torch` requirement with no torch installed can
    # pull a multi-GB CUDA build.
    install_requires=[
        "torch>=2.1",
        "diffusers>=0.35.0",
        "transformers>=4.41",
        "accelerate>=0.31",
        "safetensors>=0.4",
        "numpy",
        "Pillow",
        "tqdm",
    ],
    extras_require={
        # `datasets`: Hugging Face datasets as an image source of the latent cache, and export of a cache to one
        "datasets": ["datasets>=2.14"],
        # `ray`: `encode_to_cache_ray` / `encode --engine ray`, the latent cache written by a Ray Data pipeline
        "ray": RAY,
        # `video`: video files other than GIF (mp4, webm, ...) as clips of the latent cache and calibration, read by
        # diffusers' `load_video` through imageio and its ffmpeg plugin (GIFs and frame folders need neither)
        "video": ["imageio>=2.20", "imageio-ffmpeg>=0.4"],
        # setuptools: tests/test_packaging.py builds the wheel with it (70.1 and later build wheels by themselves);
        # datasets: tests/tools/test_hf_datasets.py (the `datasets` extra) runs in every suite, never skipped;
        # sentencepiece: without it diffusers exports the Kolors pipelines as placeholders (their tests need them).
        # Ray is not in it: tests/tools/test_ray_cache.py runs where the `ray` extra is installed too (the README's
        # test command, `.[test,ray]`: one local Ray cluster) and skips where it is not (CI's oldest-diffusers suite).
        "test": [
            "pytest>=7",
            "pytest-timeout",
            "hypothesis>=6",
            "psutil",
            "ruff>=0.5",
            "scikit-image>=0.21",
            "datasets>=2.14",
            "setuptools>=70.1",
            "sentencepiece",
        ],
    },
    entry_points={"console_scripts": ["diffusers-scaled=diffusers_scaled.cli:main"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "License :: OSI Approved :: Apache Software License",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
