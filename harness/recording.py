"""Episode videos: the frames the policy read, one file per episode, named by episode key.

`--record failures|all|none` decides which episodes keep their video. The sink streams frames to a
temporary file while the episode runs (so memory stays flat), then on `finish` either moves it to
its final name or deletes it. Final names are claimed with exclusive creation, so a rerun of the
same episode (--rerun-errors, a retry after a worker crash) writes a new file beside the old one and
never overwrites it. MP4 (H.264 through PyAV) when an encoder is installed, else an animated GIF.
"""

from __future__ import annotations

import os
import re
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Protocol

import numpy as np

from harness.api.types import EpisodeKey, EpisodeResult, Observation

RECORD_MODES = ("none", "failures", "all")


@dataclass(frozen=True)
class RecordSpec:
    """What to record and where; travels inside WorkerJob to wherever episodes run."""

    mode: str  # "failures" or "all"
    directory: str  # absolute folder for this run's videos
    fps: int = 5

    def __post_init__(self) -> None:
        if self.mode not in RECORD_MODES:
            raise ValueError(f"record mode {self.mode!r} is not one of {', '.join(RECORD_MODES)}")

    def keeps(self, result: EpisodeResult) -> bool:
        return self.mode == "all" or (self.mode == "failures" and not result.success)


class FrameWriter(Protocol):
    suffix: str

    def write(self, frame: np.ndarray) -> None: ...

    def close(self) -> None: ...


def _even(frame: np.ndarray) -> np.ndarray:
    # H.264 in yuv420p needs even sides.
    h, w = frame.shape[:2]
    return np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)))


def _fit(frame: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Pad or crop to the first frame's size: one video has one size."""
    out = np.zeros(shape, dtype=np.uint8)
    h, w = min(shape[0], frame.shape[0]), min(shape[1], frame.shape[1])
    out[:h, :w] = frame[:h, :w]
    return out


class Mp4Writer:
    suffix = ".mp4"

    def __init__(self, path: Path, fps: int):
        import av

        self._av = av
        self._container = av.open(str(path), mode="w", format="mp4")
        self._stream = self._container.add_stream("libx264", rate=fps)
        self._stream.pix_fmt = "yuv420p"
        self._stream.options = {"crf": "23", "preset": "veryfast"}
        self._shape: tuple[int, ...] | None = None

    def write(self, frame: np.ndarray) -> None:
        if self._shape is None:
            frame = _even(frame)
            self._shape = frame.shape
            self._stream.height, self._stream.width = frame.shape[:2]
        else:
            frame = _fit(frame, self._shape)
        video_frame = self._av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        for packet in self._stream.encode(video_frame):
            self._container.mux(packet)

    def close(self) -> None:
        if self._shape is not None:
            for packet in self._stream.encode():
                self._container.mux(packet)
        self._container.close()


class GifWriter:
    """Fallback without a video encoder. Pillow writes a GIF in one go, so frames are kept until
    close; only the frames the policy read are kept, which is few."""

    suffix = ".gif"

    def __init__(self, path: Path, fps: int):
        self._path = path
        self._duration_ms = int(round(1000 / max(1, fps)))
        self._frames: list[np.ndarray] = []

    def write(self, frame: np.ndarray) -> None:
        self._frames.append(frame if not self._frames else _fit(frame, self._frames[0].shape))

    def close(self) -> None:
        from PIL import Image

        if not self._frames:
            self._path.write_bytes(b"")
            return
        images = [Image.fromarray(f) for f in self._frames]
        images[0].save(
            self._path, format="GIF", save_all=True, append_images=images[1:], duration=self._duration_ms, loop=0
        )


def mp4_available() -> bool:
    try:
        import av
    except ImportError:
        return False
    return "libx264" in av.codecs_available


def default_writer_class() -> type:
    return Mp4Writer if mp4_available() else GifWriter


def tile_cameras(images: dict[str, np.ndarray]) -> np.ndarray:
    """The cameras side by side in the order the env gave them, padded to the tallest."""
    frames = [np.asarray(img, dtype=np.uint8) for img in images.values()]
    height = max(f.shape[0] for f in frames)
    padded = [np.pad(f, ((0, height - f.shape[0]), (0, 0), (0, 0))) for f in frames]
    return np.concatenate(padded, axis=1)


def video_stem(key: EpisodeKey) -> str:
    parts = [key.benchmark, key.suite, key.task, key.setting, f"ep{key.episode:03d}"]
    return "__".join(re.sub(r"[^A-Za-z0-9_.-]+", "-", p) for p in parts)


def claim_path(folder: Path, stem: str, suffix: str) -> Path:
    """The first free name stem.mp4, stem.2.mp4, ...; created empty here so no one else takes it."""
    i = 1
    while True:
        path = folder / (f"{stem}{suffix}" if i == 1 else f"{stem}.{i}{suffix}")
        try:
            with open(path, "xb"):
                return path
        except FileExistsError:
            i += 1


class VideoFrameSink:
    """A FrameSink (harness.worker) that writes one episode's frames to a video file."""

    def __init__(self, key: EpisodeKey, spec: RecordSpec, writer_class: type | None = None):
        self.key = key
        self.spec = spec
        self._writer_class = writer_class or default_writer_class()
        self._folder = Path(spec.directory)
        self._writer: FrameWriter | None = None
        self._temp: Path | None = None
        self.frames = 0
        self.error: str | None = None

    def __call__(self, observation: Observation) -> None:
        if not observation.images or self.error:
            return
        try:
            if self._writer is None:
                self._folder.mkdir(parents=True, exist_ok=True)
                suffix = self._writer_class.suffix
                self._temp = self._folder / f".{video_stem(self.key)}.{uuid.uuid4().hex[:8]}.part{suffix}"
                self._writer = self._writer_class(self._temp, self.spec.fps)
            self._writer.write(tile_cameras(observation.images))
            self.frames += 1
        except Exception as exc:  # noqa: BLE001 - a video fault must not end the episode
            self.error = f"{type(exc).__name__}: {exc}"

    def _discard(self) -> None:
        if self._temp is not None and self._temp.exists():
            self._temp.unlink()

    def finish(self, result: EpisodeResult) -> EpisodeResult:
        writer, self._writer = self._writer, None
        try:
            if writer is not None:
                writer.close()
        except Exception as exc:  # noqa: BLE001
            self.error = self.error or f"{type(exc).__name__}: {exc}"
        if self.error:
            self._discard()
            return replace(result, extra={**result.extra, "video_error": self.error})
        if writer is None or not self.spec.keeps(result):
            self._discard()
            return result
        final = claim_path(self._folder, video_stem(self.key), writer.suffix)
        os.replace(self._temp, final)
        return replace(result, extra={**result.extra, "video": str(final), "video_frames": self.frames})


def video_sink_factory(spec: RecordSpec | None) -> Callable[[EpisodeKey], VideoFrameSink] | None:
    if spec is None or spec.mode == "none":
        return None
    return lambda key: VideoFrameSink(key, spec)
