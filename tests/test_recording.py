"""Episode videos: the frames the policy read, one file per episode named by its key, never
overwritten, kept for failures or all; built where the episode runs (here a real Ray actor)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from harness.api.types import EndReason, EpisodeKey, EpisodeResult, Observation
from harness.recording import GifWriter, Mp4Writer, RecordSpec, VideoFrameSink, mp4_available, video_stem

KEY = EpisodeKey("libero", "libero_object", "pick_up_the_soup", "default", 3)


def camera_frames(step: int) -> dict[str, np.ndarray]:
    """Two cameras whose pixels say which camera they are (red / blue) and which step (brightness)."""
    left = np.zeros((64, 96, 3), np.uint8)
    left[..., 0] = 60 + 20 * step
    right = np.zeros((48, 80, 3), np.uint8)
    right[..., 2] = 60 + 20 * step
    return {"agentview": left, "robot0_eye_in_hand": right}


def feed(sink: VideoFrameSink, frames: int) -> None:
    for step in range(frames):
        sink(Observation(images=camera_frames(step), state=np.zeros(8), instruction="x", step=step))
    # Steps inside a replanning window carry no images and are not frames the policy read.
    sink(Observation(images={}, state=np.zeros(8), instruction="x"))


def outcome(success: bool) -> EpisodeResult:
    return EpisodeResult(
        key=KEY, success=success, steps=10, end_reason=EndReason.SUCCESS if success else EndReason.HORIZON
    )


def decode_mp4(path) -> list[np.ndarray]:
    import av

    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(container.streams.video[0])]


def test_mp4_holds_the_frames_side_by_side(tmp_path):
    assert mp4_available(), "PyAV with libx264 is part of the test extra"
    sink = VideoFrameSink(KEY, RecordSpec("all", str(tmp_path)))
    feed(sink, 4)
    res = sink.finish(outcome(True))
    path = tmp_path / f"{video_stem(KEY)}.mp4"
    assert res.extra["video"] == str(path) and res.extra["video_frames"] == 4
    frames = decode_mp4(path)
    assert len(frames) == 4
    assert frames[0].shape == (64, 176, 3)  # 96 + 80 wide, the taller camera's height
    first, last = frames[0].astype(int), frames[-1].astype(int)
    assert first[:, :96, 0].mean() == pytest.approx(60, abs=6) and first[:, :96, 2].mean() < 8
    assert first[:48, 96:, 2].mean() == pytest.approx(60, abs=6) and first[:48, 96:, 0].mean() < 8
    assert last[:, :96, 0].mean() == pytest.approx(120, abs=6)
    assert not list(tmp_path.glob(".*part*")), "the temporary file is moved, not left behind"


def test_a_rerun_writes_a_new_file_and_keeps_the_old(tmp_path):
    spec = RecordSpec("all", str(tmp_path))
    first = VideoFrameSink(KEY, spec)
    feed(first, 2)
    path1 = first.finish(outcome(False)).extra["video"]
    before = open(path1, "rb").read()
    second = VideoFrameSink(KEY, spec)
    feed(second, 3)
    path2 = second.finish(outcome(False)).extra["video"]
    assert path2 != path1 and path2.endswith(f"{video_stem(KEY)}.2.mp4")
    assert open(path1, "rb").read() == before
    assert len(decode_mp4(path2)) == 3


def test_failures_mode_keeps_only_failed_episodes(tmp_path):
    spec = RecordSpec("failures", str(tmp_path))
    ok = VideoFrameSink(KEY, spec)
    feed(ok, 2)
    assert "video" not in ok.finish(outcome(True)).extra
    assert not list(tmp_path.iterdir())
    failed = VideoFrameSink(KEY, spec)
    feed(failed, 2)
    assert failed.finish(outcome(False)).extra["video"].endswith(".mp4")


def test_gif_when_no_encoder(tmp_path):
    from PIL import Image

    sink = VideoFrameSink(KEY, RecordSpec("all", str(tmp_path)), writer_class=GifWriter)
    feed(sink, 3)
    path = sink.finish(outcome(False)).extra["video"]
    assert path.endswith(".gif")
    with Image.open(path) as gif:
        assert gif.n_frames == 3 and gif.size == (176, 64)
        gif.seek(2)
        pixel = np.asarray(gif.convert("RGB"))[10, 10]
        assert pixel[0] == pytest.approx(100, abs=8) and pixel[2] < 8


def test_record_spec_is_checked_and_travels_by_pickle():
    with pytest.raises(ValueError, match="record mode"):
        RecordSpec("some", "/tmp")
    spec = RecordSpec("failures", "/tmp/videos/run", fps=4)
    assert pickle.loads(pickle.dumps(spec)) == spec
    assert Mp4Writer.suffix == ".mp4" and GifWriter.suffix == ".gif"


def test_videos_are_written_inside_a_ray_actor(tmp_path):
    """The Ray engine builds EpisodeRunner inside its actors from the WorkerJob alone: the sink must
    come from job.record there. A real Ray actor runs a real LIBERO episode with recording on."""
    import ray

    from envs.presets import load_preset_file
    from envs.registry import find_suite, get_benchmark
    from harness.worker import WorkerJob
    from policies.base import PolicyContext
    from tests.report_data import short_libero_preset_file

    preset = load_preset_file(short_libero_preset_file(tmp_path, max_steps=10))
    bench = get_benchmark("libero")
    task = find_suite(bench, "libero_object").tasks[0]
    ctx = PolicyContext(benchmark="libero", action_dim=7, noop_action=tuple(bench.noop_action_for(preset)))
    job = WorkerJob(
        benchmark="libero",
        preset=preset,
        tasks={task.name: task},
        cameras=preset.render.cameras,
        record=RecordSpec("all", str(tmp_path / "videos")),
    )

    @ray.remote
    class Worker:
        def run(self, job: WorkerJob, ctx: PolicyContext, key: EpisodeKey) -> EpisodeResult:
            from harness.rollout import LocalPolicyClient
            from harness.worker import EpisodeRunner
            from policies.registry import make_policy

            policy = make_policy("noop", ctx)
            runner = EpisodeRunner(job, LocalPolicyClient(policy), policy.info())
            try:
                return runner.run(key)
            finally:
                runner.close()

    key = EpisodeKey("libero", "libero_object", task.name, "default", 0)
    # address="local": a fresh cluster of our own, even if another one runs on this machine.
    ray.init(address="local", num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        res = ray.get(Worker.remote().run.remote(job, ctx, key), timeout=240)
    finally:
        ray.shutdown()
    assert res.end_reason == EndReason.HORIZON and res.policy_calls == 2
    frames = decode_mp4(res.extra["video"])
    assert len(frames) == res.extra["video_frames"] == res.policy_calls
    assert frames[0].shape == (128, 256, 3) and frames[0].std() > 10  # two real 128 px camera images
