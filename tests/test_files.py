"""rawlive.files: outputs that leave what is there alone until they are worth keeping."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rawlive import files
from rawlive.cassette import CassetteWriter, read_cassette
from rawlive.media.audio import WavWriter


def test_a_staged_file_leaves_the_target_alone_until_published(tmp_path: Path) -> None:
    target = tmp_path / "reply.wav"
    target.write_bytes(b"old")
    staged = files.StagedFile(target)
    os.write(staged.fd, b"new")
    assert target.read_bytes() == b"old"
    staged.publish()
    os.close(staged.fd)
    assert target.read_bytes() == b"new" and [p.name for p in tmp_path.iterdir()] == ["reply.wav"]


def test_a_staged_file_writes_through_a_symlink(tmp_path: Path) -> None:
    real, link = tmp_path / "real.wav", tmp_path / "link.wav"
    real.write_bytes(b"old")
    link.symlink_to(real)
    staged = files.StagedFile(link)
    os.write(staged.fd, b"new")
    staged.publish()
    os.close(staged.fd)
    assert link.is_symlink() and real.read_bytes() == b"new"


def test_a_device_is_written_in_place_not_replaced() -> None:
    staged = files.StagedFile(os.devnull)
    assert staged.published and staged.temp is None
    os.close(staged.fd)
    assert Path(os.devnull).is_char_device()


def test_an_unpublished_wav_is_removed_on_close(tmp_path: Path) -> None:
    target = tmp_path / "reply.wav"
    target.write_bytes(b"previous")
    with WavWriter(target, staged=True) as reply:
        reply.write(b"\x01\x00" * 10)
    assert target.read_bytes() == b"previous" and len(list(tmp_path.iterdir())) == 1


def test_an_unpublished_cassette_is_kept_only_where_nothing_was(tmp_path: Path) -> None:
    taken, free = tmp_path / "taken.jsonl", tmp_path / "free.jsonl"
    taken.write_bytes(b"previous")
    for path in (taken, free):
        CassetteWriter(path, staged=True).close()
    assert taken.read_bytes() == b"previous" and read_cassette(free).complete
    assert sorted(p.name for p in tmp_path.iterdir()) == ["free.jsonl", "taken.jsonl"]


def test_an_exclusive_cassette_never_overwrites_or_follows_a_symlink(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("keep")
    (tmp_path / "planted.jsonl").symlink_to(victim)
    (tmp_path / "dangling.jsonl").symlink_to(tmp_path / "nowhere")
    for name in ("victim.txt", "planted.jsonl", "dangling.jsonl"):
        with pytest.raises(FileExistsError):
            CassetteWriter(tmp_path / name, exclusive=True)
    assert victim.read_text() == "keep" and not (tmp_path / "nowhere").exists()


def test_a_failed_write_names_the_file() -> None:
    writer = CassetteWriter("/dev/full")
    with pytest.raises(OSError) as caught:
        writer.write_header()
    assert caught.value.filename == "/dev/full"
    with pytest.raises(OSError):
        writer.close()  # the end event cannot be written either; the file is closed
    assert writer.closed


def test_an_append_file_holds_every_byte_written_at_every_moment(tmp_path: Path) -> None:
    target = tmp_path / "avatar.mp4"
    target.write_bytes(b"yesterday's video")
    with files.AppendFile(target, staged=True) as video:
        video.write(b"ftyp")
        assert target.read_bytes() == b"yesterday's video"  # untouched until published
        video.publish()
        video.write(memoryview(b"moof-mdat"))
        assert target.read_bytes() == b"ftypmoof-mdat"  # no close needed: nothing is buffered
        assert (video.bytes, video.writes) == (13, 2)
    assert video.closed and target.read_bytes() == b"ftypmoof-mdat"
    with pytest.raises(ValueError, match="closed"):
        video.write(b"more")
    with files.AppendFile(target, staged=True) as unpublished:
        unpublished.write(b"lost")
    assert target.read_bytes() == b"ftypmoof-mdat" and len(list(tmp_path.iterdir())) == 1


def test_an_append_file_killed_mid_stream_keeps_what_was_written(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys

    target = tmp_path / "avatar.mp4"
    code = (
        "import sys, time\n"
        "from rawlive import files\n"
        "f = files.AppendFile(sys.argv[1])\n"
        "f.write(b'a' * 1000)\n"
        "f.write(b'b' * 24)\n"
        "print('written', flush=True)\n"
        "time.sleep(60)\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code, str(target)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None and process.stdout.readline() == "written\n"
    process.send_signal(signal.SIGKILL)
    process.wait(10)
    assert target.read_bytes() == b"a" * 1000 + b"b" * 24


def test_an_append_file_that_cannot_be_opened_names_its_path(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-dir" / "avatar.mp4"
    with pytest.raises(OSError) as caught:
        files.AppendFile(missing)
    assert caught.value.filename == str(missing)
