"""Retention removes `.tmp-` folders that crashed runs left over a day ago, and says so; younger ones stay."""

from __future__ import annotations

import os
import time

from flywheel_lib import leftovers

DAY = 24 * 3600


def make(folder, age_s: float):
    folder.mkdir(parents=True)
    (folder / "id_bucket=0").mkdir()
    part = folder / "id_bucket=0" / "part-0.parquet"
    part.write_bytes(b"half written")
    stamp = time.time() - age_s
    for path in (part, part.parent, folder):
        os.utime(path, (stamp, stamp))
    return folder


def test_local_leftovers_older_than_a_day_go_and_are_named(tmp_path, capsys):
    root = tmp_path / "split_part" / "infobase_attributes"
    dead = make(root / "IBE_01" / ".tmp-2026-09-30__20261001T020000Z", 2 * DAY)
    young = make(root / "IBE_01" / ".tmp-2026-10-31__20261101T020000Z", 3600)
    version = make(root / "IBE_01" / "2026-09-30__20261001T020000Z", 40 * DAY)
    removed = leftovers.remove_local([root, tmp_path / "absent"])
    assert removed == [str(dead)] and not dead.exists() and young.exists() and version.exists()
    leftovers.say(removed)
    assert f"removed the leftover of a crashed run (not written for over a day): {dead}" in capsys.readouterr().out


def test_a_recent_write_inside_keeps_an_old_folder(tmp_path):
    root = tmp_path / "split_part"
    folder = make(root / "IBE_02" / ".tmp-v", 3 * DAY)
    (folder / "id_bucket=0" / "part-1.parquet").write_bytes(b"still being written")
    assert leftovers.remove_local([root]) == []
