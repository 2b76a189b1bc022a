"""`dfer.utils.write_atomically`: the old file or the new one, never half of one; nothing written through a link."""

import os
import stat

import pytest

from dfer.utils import write_atomically, write_text_atomically


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "metrics.json"
    target.write_text("old\n")

    def half_then_fail(handle):
        handle.write("new, but only half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        write_atomically(target, half_then_fail)
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]


def test_links_are_replaced_not_followed_and_the_mode_is_an_ordinary_files(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me\n")
    target = tmp_path / "card.md"
    target.symlink_to(victim)
    write_text_atomically(target, "card\n")
    assert victim.read_text() == "keep me\n"
    assert not target.is_symlink() and target.read_text() == "card\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~_umask()


def test_bytes_and_text_round_trip(tmp_path):
    write_atomically(tmp_path / "a.png", lambda handle: handle.write(b"\x89PNG\r\n"), mode="wb")
    write_text_atomically(tmp_path / "b.csv", "x,y\r\n1,2\n")  # newlines as given, as csv writers need
    assert (tmp_path / "a.png").read_bytes() == b"\x89PNG\r\n"
    assert (tmp_path / "b.csv").read_bytes() == b"x,y\r\n1,2\n"


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
