"""Video clip sources for the tools: a folder of video files and/or of frame folders, one file, or clips in memory.

A clip is one of:

- a video file: `.gif` (read through PIL), `.mp4`, `.webm`, `.mov`, `.avi`, `.mkv` (read through imageio and its
  ffmpeg plugin, the `video` extra: `pip install "diffusers-scaled[video]"`), always with diffusers' own
  `diffusers.utils.load_video`;
- a folder of frames (an image sequence): its image files in sorted name order;
- in memory: a list of frames (PIL images, or arrays / tensors as `read_image` takes them), or a `(frames, H, W, C)`
  array.

A folder given as the source lists its video files and frame folders (sorted by name, not recursively below a frame
folder). Frames `0, stride, 2 * stride, ...` are taken, `num_frames` of them; a clip with fewer frames raises (or is
skipped and recorded with `skip_bad_images`).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from dataclasses import dataclass

import numpy as np
import PIL.Image
import torch

from . import _data


VIDEO_EXTENSIONS = (".gif", ".mp4", ".webm", ".mov", ".avi", ".mkv")
VIDEO_EXTRA = 'pip install "diffusers-scaled[video]"'


@dataclass
class Clip:
    """The frames taken from a clip, and what is known of its source."""

    frames: list[PIL.Image.Image]  # RGB, `num_frames` of them
    source_num_frames: int  # frames in the source
    fps: float | None  # the source's frame rate, when it records one


def _frame_files(folder: str) -> list[str]:
    return sorted(
        os.path.join(folder, name)
        for name in os.listdir(folder)
        if name.lower().endswith(_data.IMAGE_EXTENSIONS) and not name.startswith(".")
    )


def list_clips(folder: str | os.PathLike) -> list[str]:
    """The clips in `folder`: its video files and its sub-folders that hold frames, sorted by name."""
    folder = os.fspath(folder)
    found = []
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        if name.startswith("."):
            continue
        if os.path.isdir(path) and _frame_files(path):
            found.append(path)
        elif os.path.isfile(path) and name.lower().endswith(VIDEO_EXTENSIONS):
            found.append(path)
    return found


def as_clips(clips) -> list:
    """The items of a clip source (see the module docstring); paths are read only when their batch is encoded."""
    if isinstance(clips, (str, os.PathLike)):
        path = os.fspath(clips)
        if os.path.isdir(path):
            if _frame_files(path) and not list_clips(path):
                return [path]  # the folder is one clip's frames
            found = list_clips(path)
            if not found:
                raise ValueError(
                    f"`images` is the folder `{path}`, which holds no video clips: video files "
                    f"({', '.join(VIDEO_EXTENSIONS)}) or sub-folders of frames (one per clip)."
                )
            return found
        if os.path.isfile(path):
            return [path]
        raise FileNotFoundError(f"`images` must be a folder of video clips or a video file; `{path}` does not exist.")
    if isinstance(clips, (PIL.Image.Image, np.ndarray, torch.Tensor)):
        raise TypeError(
            "`images` (with `num_frames`) must be a folder of clips, a video file, or a list of clips (each a list of "
            f"frames); got a single {type(clips).__name__}. Wrap it in a list."
        )
    return _data.as_items(clips)


def check_num_frames(num_frames: int, temporal: int, vae) -> None:
    """Refuses a `num_frames` the VAE would not encode whole: it takes `1 + temporal * k` frames."""
    if (num_frames - 1) % temporal:
        lower = num_frames - 1 - (num_frames - 1) % temporal + 1
        raise ValueError(
            f"`num_frames` must be {temporal} * k + 1 for a {type(vae).__name__} (its temporal compression is "
            f"{temporal}: it encodes the first frame, then groups of {temporal}, and would drop the rest); got "
            f"{num_frames}. Use {lower} or {lower + temporal}."
        )


def _check_video_backend(path: str) -> None:
    if path.lower().endswith(".gif"):
        return
    if importlib.util.find_spec("imageio") is None or importlib.util.find_spec("imageio_ffmpeg") is None:
        raise ImportError(
            f"Reading the video `{path}` needs imageio and imageio-ffmpeg (diffusers' `load_video` reads it through "
            f"them): {VIDEO_EXTRA}. GIF files and folders of frames need neither."
        )


def _file_fps(path: str) -> float | None:
    """The frame rate a video file records: a GIF's frame duration (as diffusers' `load_video` reads it), else the
    container's `fps` (imageio's metadata)."""
    if path.lower().endswith(".gif"):
        with PIL.Image.open(path) as gif:
            duration = gif.info.get("duration")
        return 1000 / duration if duration else None
    import imageio

    with imageio.get_reader(path) as reader:
        fps = reader.get_meta_data().get("fps")
    return float(fps) if fps else None


def read_frames(item) -> tuple[list, float | None]:
    """All frames of a clip item (RGB PIL images, or the in-memory frames as given) and its frame rate if known."""
    item = item.get() if isinstance(item, _data._Indexed) else item
    if isinstance(item, (str, os.PathLike)):
        path = os.fspath(item)
        if os.path.isdir(path):
            return [_data.read_image(frame) for frame in _frame_files(path)], None
        from diffusers.utils import load_video

        _check_video_backend(path)
        return load_video(path), _file_fps(path)
    if isinstance(item, dict):
        return read_frames(item.get("video", item.get("frames")))
    if isinstance(item, (np.ndarray, torch.Tensor)) and item.ndim == 4:
        return list(item), None
    if isinstance(item, (list, tuple)) and item:
        return list(item), None
    raise TypeError(
        "A clip must be a video file, a folder of frames, a list of frames or a (frames, H, W, C) array; got "
        f"{type(item).__name__}."
    )


def read_clip(item, num_frames: int, frame_stride: int) -> Clip:
    """Frames `0, frame_stride, ...` (`num_frames` of them) of a clip, as RGB PIL images."""
    frames, fps = read_frames(item)
    needed = (num_frames - 1) * frame_stride + 1
    if len(frames) < needed:
        raise ValueError(
            f"the clip has {len(frames)} frames; `num_frames={num_frames}` with `frame_stride={frame_stride}` needs "
            f"at least {needed}"
        )
    taken = [_data.read_image(frame) for frame in frames[:needed:frame_stride]]
    if len({frame.size for frame in taken}) != 1:
        raise ValueError(f"the clip's frames have different sizes: {sorted({f.size for f in taken})}")
    return Clip(taken, len(frames), fps)


def clip_size(item) -> tuple[int, int]:
    """A clip's frame `(height, width)`: its first frame's, from a header where there is one (a frame folder's first
    image; a GIF, whose frames `load_video` returns at the size of its canvas); other video files are read whole."""
    item = item.get() if isinstance(item, _data._Indexed) else item
    if isinstance(item, (str, os.PathLike)) and os.path.isdir(item):
        return _data.image_size(_frame_files(os.fspath(item))[0])
    if isinstance(item, (str, os.PathLike)) and os.fspath(item).lower().endswith(".gif"):
        return _data.image_size(item)
    frames, _ = read_frames(item)
    return _data.image_size(frames[0])


def content_sha256(item) -> str:
    """SHA-256 of a clip: a file's bytes; a frame folder's frame names and bytes; in-memory frames' pixels."""
    item = item.get() if isinstance(item, _data._Indexed) else item
    if isinstance(item, (str, os.PathLike)) and os.path.isfile(item):
        return _data.content_sha256(item)
    digest = hashlib.sha256()
    if isinstance(item, (str, os.PathLike)) and os.path.isdir(item):
        for frame in _frame_files(os.fspath(item)):
            digest.update(f"{os.path.basename(frame)}\n{_data.content_sha256(frame)}\n".encode())
        return digest.hexdigest()
    for frame in read_frames(item)[0]:
        digest.update(_data.content_sha256(frame).encode())
    return digest.hexdigest()
