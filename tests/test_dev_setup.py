"""``tools/dev.sh`` set-up and the system libraries of Qt's xcb plugin (issue 15): installed with
apt-get as root, else the command printed; never a failure (the tests run offscreen)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

DEV_SH = Path(__file__).resolve().parents[1] / "tools" / "dev.sh"

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


def run_check(tmp_path: Path, *, missing: str, uid: int, apt_rc: int = 0,
              mode: str = "install") -> tuple[subprocess.CompletedProcess, str]:
    """``check_qt_libs`` of dev.sh with a fake venv python (printing the missing packages as
    scoat_core.diagnostics does), a fake ``id`` and a fake ``apt-get`` that logs its calls."""
    tmp_path.mkdir(exist_ok=True)
    venv, fake = tmp_path / "venv", tmp_path / "fake"
    (venv / "bin").mkdir(parents=True)
    fake.mkdir()
    scripts = {venv / "bin" / "python": f"echo '{missing}'",
               fake / "id": f"echo {uid}",
               fake / "apt-get": f'echo "apt-get $*" >> {tmp_path}/apt.log; exit {apt_rc}',
               fake / "uname": "echo Linux"}
    for path, body in scripts.items():
        path.write_text(f"#!/bin/sh\n{body}\n")
        path.chmod(0o755)
    script = (f"set -euo pipefail; VENV={venv}; "
              f"eval \"$(sed -n '/^check_qt_libs()/,/^}}/p' {DEV_SH})\"; check_qt_libs; echo ok")
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60,
                          env={"PATH": f"{fake}:/usr/bin:/bin", "SCOAT_SYSTEM_LIBS": mode})
    log = tmp_path / "apt.log"
    return done, log.read_text() if log.exists() else ""


def test_a_user_gets_the_command(tmp_path):
    done, apt = run_check(tmp_path, missing="libxcb-icccm4 libxcb-keysyms1", uid=1000)
    assert done.returncode == 0 and done.stdout.strip() == "ok"
    assert "sudo apt-get install -y libxcb-icccm4 libxcb-keysyms1" in done.stderr
    assert apt == ""


def test_root_installs_them_and_a_failure_is_not_fatal(tmp_path):
    done, apt = run_check(tmp_path, missing="libxcb-icccm4 libxcb-keysyms1", uid=0)
    assert done.returncode == 0 and apt.splitlines() == [
        "apt-get install -y -q libxcb-icccm4 libxcb-keysyms1"]
    assert "sudo apt-get" not in done.stderr

    done, apt = run_check(tmp_path / "failing", missing="libxcb-icccm4", uid=0, apt_rc=100)
    assert done.returncode == 0 and done.stdout.strip() == "ok"
    assert apt.splitlines() == ["apt-get install -y -q libxcb-icccm4", "apt-get update -q"]
    assert "sudo apt-get install -y libxcb-icccm4" in done.stderr


def test_nothing_missing_or_check_only(tmp_path):
    done, apt = run_check(tmp_path, missing="", uid=0)
    assert done.returncode == 0 and done.stderr == "" and apt == ""
    done, apt = run_check(tmp_path / "check", missing="libxcb-cursor0", uid=0, mode="check")
    assert done.returncode == 0 and apt == ""
    assert "sudo apt-get install -y libxcb-cursor0" in done.stderr
