"""The lab's control endpoint, served as the supervisor serves it, without the lab's processes.

A :class:`Lab` that is never ``start()``-ed still has everything the endpoint needs (its
directory, the switchboard, ``set_incident``); ``start_control()`` is the step of
``start()`` that makes the token and serves the endpoint, ``write_lab_json()`` the one
that hands both to the ``spanscope demo incident`` client.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from spanscope.cli import app
from spanscope.demo.incidents import write_active
from spanscope.demo.supervisor import Lab, LabConfig
from spanscope.demo.tour import Tour


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    said: list[str] = []
    lab = Lab(LabConfig(data_dir=tmp_path / "lab", control_port=0), say=said.append)
    lab.dir.mkdir()
    write_active(lab.dir, set())
    lab.urls = {"gateway": "http://127.0.0.1:18080"}  # printed only; no shop in these tests
    lab.start_control()
    lab.write_lab_json()
    yield lab
    lab.stop()


def active(lab: Lab) -> list[str]:
    return list(httpx.get(lab.control_url + "/incidents", timeout=5).json()["active"])


def switch(lab: Lab, method: str = "POST", **headers: str) -> httpx.Response:
    return httpx.request(
        method, lab.control_url + "/incidents/missing-index", headers=headers, timeout=5
    )


def bearer(token: str) -> str:
    return f"Bearer {token}"


def test_binds_loopback_and_makes_a_fresh_url_safe_token(lab: Lab, tmp_path: Path) -> None:
    assert lab.control_url.startswith("http://127.0.0.1:")
    assert lab._control is not None and lab._control.server_address[0] == "127.0.0.1"  # type: ignore[attr-defined]
    assert len(lab.control_token) >= 43 and all(c.isalnum() or c in "-_" for c in lab.control_token)
    other = Lab(LabConfig(data_dir=tmp_path / "other"))
    assert other.control_token != lab.control_token


def test_a_switch_without_the_token_is_401_with_a_bearer_challenge(lab: Lab) -> None:
    for headers in ({}, {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Bearer"}):
        answer = switch(lab, **headers)
        assert answer.status_code == 401, (headers, answer.text)
        assert answer.headers["www-authenticate"] == 'Bearer realm="spanscope-demo"'
        assert "lab.json" in answer.json()["error"]
    assert active(lab) == []


def test_a_wrong_token_is_403_and_not_echoed(lab: Lab) -> None:
    wrong = lab.control_token[:-1] + ("A" if lab.control_token[-1] != "A" else "B")
    for method in ("POST", "PUT", "DELETE"):
        answer = switch(lab, method, Authorization=bearer(wrong))
        assert answer.status_code == 403, answer.text
        assert wrong not in answer.text and lab.control_token not in answer.text
    assert active(lab) == []


def test_the_right_token_switches_on_and_off(lab: Lab) -> None:
    on = switch(lab, Authorization=bearer(lab.control_token))
    assert on.status_code == 200, on.text
    assert on.json()["active"] == ["missing-index"] and active(lab) == ["missing-index"]
    assert switch(lab, "DELETE").status_code == 401
    assert active(lab) == ["missing-index"]
    off = switch(lab, "DELETE", Authorization=f"bearer  {lab.control_token}")
    assert off.status_code == 200, off.text
    assert active(lab) == []
    timeline = (lab.dir / "incidents.log").read_text()
    assert [json.loads(line)["active"] for line in timeline.splitlines()] == [True, False]


def test_cross_site_browser_requests_are_refused_even_with_the_token(lab: Lab) -> None:
    token = bearer(lab.control_token)
    for headers in (
        {"Origin": "http://evil.example"},
        {"Origin": "http://127.0.0.1:16686"},  # another port of this host is another origin
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
    ):
        answer = switch(lab, Authorization=token, **headers)
        assert answer.status_code == 403, (headers, answer.text)
    assert active(lab) == []
    own = switch(
        lab, Authorization=token, Origin=lab.control_url, **{"Sec-Fetch-Site": "same-origin"}
    )
    assert own.status_code == 200, own.text
    assert active(lab) == ["missing-index"]


def test_a_host_that_is_not_loopback_is_421_for_reads_and_switches(lab: Lab) -> None:
    port = lab.control_url.rsplit(":", 1)[1]
    rebound = {"Host": f"rebound.example:{port}"}
    answer = switch(lab, Authorization=bearer(lab.control_token), **rebound)
    assert answer.status_code == 421, answer.text
    assert "rebound.example" in answer.json()["error"]
    for path in ("/incidents", "/"):
        read = httpx.get(lab.control_url + path, headers=rebound, timeout=5)
        assert read.status_code == 421, (path, read.text)
    assert active(lab) == []
    for host in (f"localhost:{port}", f"127.0.0.1:{port}"):
        assert httpx.get(lab.control_url + "/incidents", headers={"Host": host}).status_code == 200


def test_reads_stay_open_but_never_show_the_token(lab: Lab) -> None:
    assert httpx.get(lab.control_url + "/healthz", timeout=5).status_code == 200
    info = httpx.get(lab.control_url + "/", timeout=5)
    assert info.status_code == 200 and info.json()["control"] == lab.control_url
    assert lab.control_token not in info.text and "control_token" not in info.json()


def test_lab_json_holds_the_token_for_its_owner_only(lab: Lab) -> None:
    path = lab.dir / "lab.json"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert json.loads(path.read_text())["control_token"] == lab.control_token


def test_the_cli_client_reads_the_token_from_lab_json(lab: Lab) -> None:
    runner = CliRunner()
    on = runner.invoke(
        app, ["demo", "incident", "missing-index", "--on", "--data-dir", str(lab.dir)]
    )
    assert on.exit_code == 0, on.output
    assert "ON   missing-index" in on.output and active(lab) == ["missing-index"]
    listed = runner.invoke(app, ["demo", "incident", "--data-dir", str(lab.dir)])
    assert listed.exit_code == 0 and "ON   missing-index" in listed.output
    off = runner.invoke(
        app,
        ["demo", "incident", "missing-index", "--off", "--control-url", lab.control_url,
         "--data-dir", str(lab.dir)],
    )  # fmt: skip
    assert off.exit_code == 0, off.output
    assert active(lab) == []


def test_the_cli_client_names_the_fix_when_it_has_no_token(lab: Lab, tmp_path: Path) -> None:
    elsewhere = tmp_path / "not-the-lab"
    answer = CliRunner().invoke(
        app,
        ["demo", "incident", "missing-index", "--on", "--control-url", lab.control_url,
         "--data-dir", str(elsewhere)],
        env={"SPANSCOPE_DEMO_TOKEN": None},
    )  # fmt: skip
    assert answer.exit_code == 1
    assert "--data-dir" in answer.output and "lab.json" in answer.output, answer.output
    assert active(lab) == []
    given = CliRunner().invoke(
        app,
        ["demo", "incident", "missing-index", "--on", "--control-url", lab.control_url,
         "--data-dir", str(elsewhere)],
        env={"SPANSCOPE_DEMO_TOKEN": lab.control_token},
    )  # fmt: skip
    assert given.exit_code == 0, given.output
    assert active(lab) == ["missing-index"]


@pytest.mark.skipif(shutil.which("curl") is None, reason="runs the printed curl line")
def test_the_start_output_has_the_token_and_a_curl_line_that_works(lab: Lab) -> None:
    said: list[str] = []
    lab.say = said.append
    Tour(lab).print_welcome()
    assert any(lab.control_token in line for line in said), said
    curl = [line.strip() for line in said if line.strip().startswith("curl ")]
    assert len(curl) == 1, said
    done = subprocess.run(curl[0] + " -s -f", shell=True, capture_output=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert active(lab) == ["missing-index"]
