import errno
import json

import pytest

from sim.files import atomic_write, write_json_atomic


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "results.json"
    write_json_atomic(target, {"episodes": 1})

    def disk_full(out):
        out.write(b'{"episodes": ')
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError, match="No space"):
        atomic_write(target, disk_full)
    assert json.loads(target.read_text()) == {"episodes": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]
    assert target.stat().st_mode & 0o777 == 0o644
