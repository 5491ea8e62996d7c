"""``fusedstab sync --json`` on a log kept on another clock (issue 12): the offset relative to
where the sync started is printed beside the raw one."""

from __future__ import annotations

import json


def test_phone_log_on_the_boot_clock(shared_data, capsys):
    from fusedstab.cli import main

    d = shared_data / "phone_cc9pro_ois_off"
    rc = main(["sync", str(d / "frames_099-150.mp4"), "--gyro", str(d / "gyro.txt"), "--gyro-columns", "x,y,z,t",
               "--frame-timestamps", str(d / "framestamp.txt"), "--first-frame", "99", "--imu-orientation", "auto",
               "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["reliable"]
    assert abs(out["offset_ms"]) > 1e9  # the phone's boot clock: about 50 days
    # the part the sync found: a few ms from the frame timestamps (measured +2.8 ms)
    assert abs(out["offset_from_start_ms"]) < 20.0
    assert abs(out["offset_ms"] - out["start_offset_ms"] - out["offset_from_start_ms"]) < 1e-3
    assert all(abs(p["offset_from_start_ms"]) < 20.0 for p in out["points"] if p["used"])
