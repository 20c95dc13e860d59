"""Ctrl-C or SIGTERM of ``spanscope demo`` stops every process it started: no orphans —
and when the supervisor is SIGKILLed, its children stop themselves.

The demo starts its own Spanscope (nothing answers at the free ``--url``), the eight
services and the traffic; while it runs, an incident is switched on from the CLI (with the
token it reads from lab.json) and read back from the control endpoint; then the signal, and
no process the lab started may still exist — found both by the PIDs in ``lab.json`` and by
scanning every process's command line for the lab's directory (which catches anything those
processes spawned).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from lab_helpers import demo_command, demo_output, free_port, wait_for


def processes_mentioning(text: str) -> list[tuple[int, str]]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue  # exited while we looked
        if text in cmdline:
            found.append((int(entry.name), cmdline))
    return found


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has exited


@pytest.mark.skipif(not Path("/proc").exists(), reason="reads /proc to find processes")
@pytest.mark.parametrize(
    "sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=["ctrl-c", "sigterm", "sigkill"]
)
def test_signal_stops_every_process(
    tmp_path: Path,
    lab_dir: Path,
    run_demo: Callable[..., subprocess.Popen[bytes]],
    sig: signal.Signals,
) -> None:
    api, otlp = f"http://127.0.0.1:{free_port()}", f"http://127.0.0.1:{free_port()}"
    env = {"SPANSCOPE_OTLP_GRPC_PORT": "0", "SPANSCOPE_ZIPKIN_PORT": "0"}  # never the defaults
    demo = run_demo(demo_command(lab_dir, api, otlp, "--rate", "4"), env=env)
    lab_json = lab_dir / "lab.json"
    wait_for(lambda: lab_json.exists() or demo.poll() is not None, 120, "the lab starts")
    assert demo.poll() is None, demo_output(tmp_path)
    lab = json.loads(lab_json.read_text())
    pids = lab["pids"]
    assert set(pids) == {
        "spanscope", "traffic", "gateway", "users", "inventory", "orders", "payments",
        "payment-provider", "shipping", "notifications",
    }  # fmt: skip
    assert all(alive(pid) for pid in pids.values())
    assert httpx.get(lab["spanscope"] + "/healthz").status_code == 200

    # switch an incident at runtime through the CLI, which finds the control URL and token
    # in lab.json; the control endpoint agrees, and refuses a switch without the token
    # printed at start (lab.json can be written before the demo's stdout is flushed)
    wait_for(lambda: lab["control_token"] in demo_output(tmp_path) or None, 30, "the token printed")
    switch = subprocess.run(
        [sys.executable, "-m", "spanscope", "demo", "incident", "n-plus-one", "--on",
         "--data-dir", str(lab_dir)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert switch.returncode == 0, switch.stderr
    assert "ON   n-plus-one" in switch.stdout
    assert httpx.get(lab["control"] + "/incidents").json()["active"] == ["n-plus-one"]
    assert httpx.delete(lab["control"] + "/incidents/n-plus-one").status_code == 401
    auth = {"Authorization": f"Bearer {lab['control_token']}"}
    unknown = httpx.post(lab["control"] + "/incidents/no-such-thing", headers=auth)
    assert unknown.status_code == 404 and "missing-index" in unknown.json()["error"]
    assert httpx.get(lab["control"] + "/incidents").json()["active"] == ["n-plus-one"]

    os.killpg(demo.pid, sig)  # as a terminal's Ctrl-C: the whole foreground job
    if sig == signal.SIGKILL:  # no clean-up by the supervisor: its children end themselves
        assert demo.wait(30) == -signal.SIGKILL
        wait_for(lambda: not any(alive(pid) for pid in pids.values()), 60, "children exit")
    else:
        assert demo.wait(90) == 0, demo_output(tmp_path)
        assert "stopped: every process the lab started has exited" in demo_output(tmp_path)
    assert [name for name, pid in pids.items() if alive(pid)] == []
    assert processes_mentioning(str(lab_dir)) == []
