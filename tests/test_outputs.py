"""The shared output layer (``visionr1.io``) and the synth commands' bad inputs (issue 15)."""

from __future__ import annotations

import os
import pickle

import pytest
from conftest import run_cli
from hypothesis import given
from hypothesis import strategies as st

from visionr1.errors import VisionR1Error
from visionr1.io import (
    atomic_output,
    differing_keys,
    load_pickle,
    lock_dir,
    output_dir,
    record_differences,
    write_bytes,
)


def test_load_pickle_reads_plain_refs(tmp_path):
    refs = [{"ref_id": 0, "ann_id": 7, "image_id": 3, "split": "train", "sent_ids": [0, 1], "category_id": 1,
             "sentences": [{"sent_id": 0, "sent": "left dog", "raw": "Left dog", "tokens": ["left", "dog"]}],
             "file_name": "COCO_train2014_000000000003_7.jpg", "bbox": (1.5, 2.0, 30.0, 40.25), "flag": True}]
    for protocol in (0, 2, pickle.HIGHEST_PROTOCOL):
        p = tmp_path / f"refs(unc).{protocol}.p"
        p.write_bytes(pickle.dumps(refs, protocol=protocol))
        assert load_pickle(p) == refs


class _Evil:
    def __reduce__(self):
        return os.system, ("touch pwned",)


def test_load_pickle_refuses_globals_and_runs_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    p = tmp_path / "refs(unc).p"
    p.write_bytes(pickle.dumps([{"ref_id": 0}, _Evil()], protocol=2))
    with pytest.raises(VisionR1Error, match=r"refusing to load .*refs\(unc\)\.p: the pickle names posix.system"):
        load_pickle(p)
    assert not (tmp_path / "pwned").exists()
    p.write_bytes(b"not a pickle")
    with pytest.raises(VisionR1Error, match="is not a readable pickle"):
        load_pickle(p)


def test_a_failed_block_leaves_no_folder_lock_dir_made(tmp_path):
    """A run refused inside the lock (``--resume`` of a folder that does not exist) left the empty folders the
    lock had created: they are removed again; folders that were there, or hold what the block wrote, are kept."""
    (tmp_path / "there").mkdir()
    for target in (tmp_path / "there" / "a" / "b", tmp_path / "there"):
        with pytest.raises(VisionR1Error, match="refused"), lock_dir(target):
            raise VisionR1Error("refused")
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["there"]
    with pytest.raises(KeyboardInterrupt), lock_dir(tmp_path / "there" / "new") as out:
        (out / "kept.txt").write_text("the block's")
        raise KeyboardInterrupt
    assert (tmp_path / "there" / "new" / "kept.txt").is_file()


def test_lock_dir_keeps_a_second_run_out(tmp_path):
    with lock_dir(tmp_path / "out") as out:
        with pytest.raises(VisionR1Error, match="is in use by another visionr1 run"), lock_dir(out):
            pass
        assert list(out.iterdir()) == []  # no lock file
    with lock_dir(tmp_path / "out"):  # released
        pass


def test_output_dir_removes_a_failed_output(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(VisionR1Error, match=f"cannot write {out / 'a'}: No space left on device"), output_dir(out):
        (out / "a").write_text("partial")
        raise OSError(28, "No space left on device", str(out / "a"))
    assert not out.exists()  # as it was: the folder it made is gone too
    out.mkdir()
    with pytest.raises(VisionR1Error, match="No space left on device"), output_dir(out):
        (out / "a").write_text("partial")
        raise OSError(28, "No space left on device", str(out / "a"))
    assert list(out.iterdir()) == []  # a folder given empty stays, empty


@pytest.mark.parametrize("args, message", [
    (["world", "--seed", -1], "--seed must be in [0, 4294967295], got -1"),
    (["world", "--seed", 2**64], "--seed must be in [0, 4294967295], got 18446744073709551616"),
    (["world", "--images", 100_000_000], "--images must be in [1, 20000], got 100000000"),
    (["world", "--images", 0], "--images must be in [1, 20000], got 0"),
    (["tiny-model", "--seed", -1], "--seed must be in [0, 4294967295]"),
    (["tiny-model", "--size", "huge"], "unknown size 'huge'"),
])
def test_synth_refuses_bad_options_up_front(tmp_path, capsys, args, message):
    out = tmp_path / "out"
    assert run_cli("synth", *args, "--out", out) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: {message}" or (err.startswith("error: ") and message in err and "\n" not in err)
    assert not out.exists()


def test_synth_world_on_a_full_disk_leaves_nothing_and_recovers(tmp_path, capsys):
    import resource

    out = tmp_path / "world"
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (4_000, hard))
    try:
        code = run_cli("synth", "world", "--out", out, "--images", 2)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    assert code == 2
    errors = [x for x in capsys.readouterr().err.splitlines() if x.startswith("error:")]
    assert len(errors) == 1 and f"cannot write {out}" in errors[0] and "File too large" in errors[0]
    assert not out.exists()  # nothing half-written presented as a world
    assert run_cli("synth", "world", "--out", out, "--images", 2) == 0
    assert (out / "world.json").is_file()
    lines = [x for x in capsys.readouterr().err.splitlines() if x.startswith("rendering images: ")]
    assert len(lines) == 10 and lines[-1].split(": ")[1].split("/")[0] == lines[-1].split("/")[1]  # not a TTY


def test_atomic_write_is_complete_synced_and_leaves_no_temporary_file(tmp_path, monkeypatch):
    """The new content is whole, the temporary file is gone, and it was fsync'ed before the rename (the order
    is what durability needs; a power loss itself cannot be tested here). A device is streamed into, never
    replaced."""
    calls = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append(("fsync", os.readlink(f"/proc/self/fd/{fd}"))),
                                                 real_fsync(fd))[1])
    monkeypatch.setattr(os, "replace", lambda a, b: (calls.append(("replace", str(a))), real_replace(a, b))[1])
    target = tmp_path / "out.bin"
    target.write_bytes(b"old content")
    data = bytes(range(256)) * 40_000  # 10 MB: more than one write call
    write_bytes(target, data)
    assert target.read_bytes() == data
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]
    tmp = str(tmp_path / ".out.bin.tmp")
    assert calls[:2] == [("fsync", tmp), ("replace", tmp)]
    assert calls[2:] == [("fsync", str(tmp_path))]  # the folder, so the rename itself is durable

    calls.clear()
    with atomic_output("/dev/null") as f:
        f.write(b"streamed")
    assert calls == [] and os.path.exists("/dev/null") and not os.path.exists("/dev/.null.tmp")


_values = st.one_of(st.none(), st.integers(-3, 3), st.text(max_size=2), st.lists(st.integers(0, 2), max_size=2))


@given(st.dictionaries(st.sampled_from("abcde"), _values), st.dictionaries(st.sampled_from("abcde"), _values))
def test_differing_keys_are_exactly_the_keys_whose_values_differ(before, now):
    """The one comparison behind both run-record refusals (io.record_differences, train.record's options): a key on
    one side only differs, also when its value is None; equal records have none; the order is ``now``'s first."""
    keys = differing_keys(before, now)
    assert set(keys) == {k for k in before.keys() | now.keys()
                         if k not in before or k not in now or before[k] != now[k]}
    assert (keys == []) == (before == now) and set(keys) == set(differing_keys(now, before))
    assert keys == sorted(keys, key=lambda k: (k not in now, list(now).index(k) if k in now else list(before).index(k)))
    assert len(record_differences(before, now)) == len(keys)
