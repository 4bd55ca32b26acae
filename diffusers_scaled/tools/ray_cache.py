"""The latent cache encoded on a Ray cluster: `encode_to_cache_ray`, the cache of `encode_to_cache` (same format, same
options, same bytes), with Ray Data scheduling the work across CPU tasks and one VAE actor per GPU.

Optional: `pip install "diffusers-scaled[ray]"` (Ray Data); Ray is imported when `encode_to_cache_ray` is called.

The pipeline; Ray schedules, retries and moves the data, this module only supplies the per-row functions, each of
which is the single-process cache's own code (`tools/_cache_write.py`):

    driver    settings, items and the shards still to write, as `encode_to_cache` (`tools.cache._CacheRun`)
    tasks     read, decode, bucket, resize and crop each shard's images          (`_cache_write.read_shard`)
    actors    the VAE, one per GPU (`num_gpus=1`) or CPU actors: a shard's batches
              encoded into the shard file's bytes                                 (`_cache_write.encode_shard`)
              and the file written all-or-nothing, by this one actor task         (`_cache_write.save_shard`)
    driver    `cache.json`, last

A row is one shard, so every batch is the one `encode_to_cache` encodes with the same generator: the cache is the
single-process one, bitwise, whatever the number of actors (on one kind of device). A worker that dies (a killed
process, a lost node) has its row retried by Ray: the actor is restarted and the shard encoded again, and since a shard
file only ever appears complete (written to a temporary, then renamed), a half-written one is never seen; the driver
removes the temporaries of killed writers before it writes `cache.json`. Run the same call again after a crash of the
driver and it writes only the missing shards.

On a CPU-only cluster Ray fuses the reading step into the encoder actors (the two ask for the same resources), so each
CPU actor reads its own shards; with GPUs the reading runs in separate CPU tasks.
"""

from __future__ import annotations

import inspect
import os
import pickle

from .. import checks
from ..atomic import temporary_sibling
from ..vae_codec import IDENTITY
from . import _cache_write, _encoding
from .cache import _CacheRun, encode_to_cache


__all__ = ["encode_to_cache_ray"]

# A test hook: "<stage>:<marker file>" with stage "encode" or "write". The first worker of that stage to create the
# marker file exits on the spot (`os._exit`), as a killed process would: before it encodes its shard ("encode"), or
# half-way through writing the shard's temporary file ("write"). Ray retries the row; the cache must come out complete
# and the same.
_KILL_ONCE_ENV = "DIFFUSERS_SCALED_RAY_KILL_ONCE"


def encode_to_cache_ray(
    vae,
    images,
    output_dir: str | os.PathLike,
    num_actors: int | None = None,
    use_gpu: bool | None = None,
    progress: bool = True,
    callback=None,
    **options,
) -> dict:
    r"""
    Encodes images into the latent cache of [`encode_to_cache`] with a Ray Data pipeline: the images are read and
    fitted to their buckets in CPU tasks, encoded by actors that hold the VAE (one per GPU, or CPU actors), which write
    each shard file all-or-nothing, one actor task per shard; `cache.json` is written last. The cache is the one
    `encode_to_cache` writes with the same options, bitwise, and it resumes the same way.

    Connects to the Ray cluster that is running (`ray.init()` before the call picks which; without one, Ray starts a
    local one). The output folder must be reachable under the same path from every node (a shared file system).

    Args:
        vae (`torch.nn.Module`, `str` or `None`): as for `encode_to_cache`; loaded on the driver and sent to the
            actors through Ray's object store.
        images: a folder, an image file or an iterable of images (as for `encode_to_cache`), or a `ray.data.Dataset`
            whose rows hold an image column (`image_column`, default `"image"`: a path, encoded bytes read by PIL,
            or an `(H, W, C)` array as `ray.data.read_images` gives) and optionally a `path` column recorded as the
            source. The driver reads the dataset once, in order, to number the images (so its rows pass through the
            driver: a dataset of paths is the light choice); its `DataContext.execution_options.preserve_order` must
            be `True` so that a rerun sees the same order.
        output_dir (`str`): the cache folder (created if needed).
        num_actors (`int`, *optional*): encoder actors; default: one per GPU of the cluster, else one per CPU.
        use_gpu (`bool`, *optional*): give each actor a GPU (`num_gpus=1`, the VAE moved to it) or a CPU; default:
            GPUs when the cluster has some.
        progress (`bool`, *optional*, defaults to `True`): show Ray Data's progress bars.
        callback (`Callable[[int, str], None]`, *optional*): called on the driver with the shard index and path of
            each shard written, as shards complete (in any order).
        **options: the other keyword arguments of `encode_to_cache` (`shard_size`, `batch_size`, `resolution`,
            `buckets`, `crop`, `flip`, `alpha_mask`, `store`, `dtype`, `raw_latents`, `seed`, `append`, ...), with the
            same meaning and defaults; `num_workers` is the threads that read a shard's images in each reading task.

    Returns:
        `dict`: the cache index (also written as `cache.json`), as `encode_to_cache` returns it.

    Raises:
        `ImportError`: if Ray Data is not installed.
        `ValueError`: as `encode_to_cache`; and for a `ray.data.Dataset` without the image column or without
            `preserve_order`.

    Examples:

    ```py
    >>> import ray
    >>> from diffusers_scaled.tools.ray_cache import encode_to_cache_ray

    >>> ray.init()  # or ray.init(address="auto") on a cluster
    >>> index = encode_to_cache_ray("stabilityai/sdxl-vae", "/data/images", "/data/latents", resolution=1024,
    ...                             buckets="sdxl", flip=True, store="distribution", dtype="bfloat16")
    ```
    """
    try:
        import ray
        import ray.data
    except ImportError as error:
        raise ImportError(
            '`encode_to_cache_ray` needs Ray Data: `pip install "diffusers-scaled[ray]"` (or `pip install "ray[data]"`).'
        ) from error

    checks.check_positive_int("num_actors", num_actors, allow_none=True)
    if isinstance(images, ray.data.Dataset):
        images = _dataset_items(images, options.get("image_column", "image"))
    arguments = inspect.signature(encode_to_cache).bind(vae, images, output_dir, **options)
    arguments.apply_defaults()
    run = _CacheRun(arguments.arguments)
    jobs = [
        {"shard": shard, "first": first, "path": path, "sources": sources, "items": pickle.dumps(chunk)}
        for shard, first, chunk, sources, path in run.shards_to_write(progress=False)
    ]
    if jobs:
        if not ray.is_initialized():
            ray.init()
        gpus = int(ray.cluster_resources().get("GPU", 0))
        use_gpu = gpus > 0 if use_gpu is None else use_gpu
        if use_gpu and not gpus:
            raise ValueError("`use_gpu=True` needs a Ray cluster with GPUs; this one has none.")
        if num_actors is None:
            num_actors = gpus if use_gpu else max(1, int(ray.cluster_resources().get("CPU", 1)))
        kill = _kill_hook()
        encoder_args = (ray.put(run.vae), run.raw_latents, run.compile, run.settings, run.plan, use_gpu, kill)
        dataset = ray.data.from_items(jobs, override_num_blocks=len(jobs))
        dataset.context.enable_progress_bars = progress
        dataset = dataset.map(_ShardReader(run.plan, arguments.arguments), num_cpus=1).map_batches(
            _ShardEncoder,
            batch_size=1,
            fn_constructor_args=encoder_args,
            compute=ray.data.ActorPoolStrategy(size=min(num_actors, len(jobs))),
            **({"num_gpus": 1} if use_gpu else {"num_cpus": 1}),
        )
        for row in dataset.iter_rows():
            if callback is not None:
                callback(int(row["shard"]), row["path"])
    return run.finish()


def _dataset_items(dataset, image_column: str):
    """The rows of a `ray.data.Dataset` as items of the cache (`{"image": ..., "path": ...}` dicts), in order."""
    columns = dataset.columns()
    if image_column not in columns:
        raise ValueError(f"`image_column` must be a column of the Ray dataset {columns}; got {image_column!r}.")
    if not dataset.context.execution_options.preserve_order:
        raise ValueError(
            "The Ray dataset must keep its order, so that a rerun numbers its images the same: set "
            "`dataset.context.execution_options.preserve_order = True` (or `DataContext.get_current()...` before "
            "creating it)."
        )
    return (
        {"image": row[image_column], **({"path": row["path"]} if isinstance(row.get("path"), str) else {})}
        for row in dataset.iter_rows()
    )


def _kill_hook() -> tuple[str, str] | None:
    value = os.environ.get(_KILL_ONCE_ENV)
    if not value:
        return None
    stage, _, marker = value.partition(":")
    if stage not in ("encode", "write") or not marker:
        raise ValueError(f'`{_KILL_ONCE_ENV}` must be "encode:<marker file>" or "write:<marker file>"; got {value!r}.')
    return stage, marker


def _first_to(kill: tuple[str, str] | None, stage: str) -> bool:
    """Whether the test hook asks this worker to die now (it creates the marker file: once per marker)."""
    if kill is None or kill[0] != stage:
        return False
    try:
        os.close(os.open(kill[1], os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return False
    return True


class _ShardReader:
    """CPU task: a shard row -> its batches with their images read, decoded and fitted (`_cache_write.read_shard`)."""

    def __init__(self, plan: _cache_write.Plan, arguments: dict):
        self.plan, self.num_workers, self.skip_bad_images = (
            plan,
            arguments["num_workers"],
            arguments["skip_bad_images"],
        )

    def __call__(self, row: dict) -> dict:
        chunk = pickle.loads(row.pop("items"))
        with _encoding.BatchLoader(None, self.num_workers, self.skip_bad_images, self.plan.read) as loader:
            reads = list(_cache_write.read_shard(loader, chunk, int(row["first"]), self.plan))
        return {**row, "reads": pickle.dumps(reads)}


class _ShardEncoder:
    """Actor: holds the VAE (on its GPU, if it has one), encodes each shard's batches into the shard file's bytes
    (`_cache_write.encode_shard`, the single-process code) and writes the file all-or-nothing (`save_shard`): one
    actor task per shard."""

    def __init__(self, vae_ref, raw_latents, compile, settings, plan, use_gpu, kill):
        import ray

        vae = ray.get(vae_ref)
        if use_gpu:
            vae = vae.to("cuda")
        scaling = IDENTITY if raw_latents else None
        _, self.codec = _encoding.load_codec(vae, scaling, compile, clips=plan.clip is not None)
        self.settings, self.plan, self.kill = settings, plan, kill

    def __call__(self, batch: dict) -> dict:
        for first, sources, reads, path in zip(batch["first"], batch["sources"], batch["reads"], batch["path"]):
            if _first_to(self.kill, "encode"):
                os._exit(1)
            reads = pickle.loads(reads)
            data = _cache_write.encode_shard(self.codec, reads, int(first), list(sources), self.settings, self.plan)
            if _first_to(self.kill, "write"):
                with open(temporary_sibling(path), "wb") as f:
                    f.write(data[: len(data) // 2])
                os._exit(1)
            _cache_write.save_shard(path, data)
        return {"shard": batch["shard"], "path": batch["path"]}
