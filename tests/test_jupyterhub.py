"""The workbook on a real JupyterHub on 127.0.0.1: pip's `jupyterhub`, npm's
`configurable-http-proxy`, the dummy authenticator and a local-process spawner. Two learners log in
through the login form; each gets their own copy of the workbook (what nbgitpuller gives each
user of a hub), their own workspace and their own progress, made in their own kernel; the room's
shared-folder transport sees both. Memory per learner is measured after a Run All of the first
kata and printed (docs/jupyterhub.md quotes it).

Opt-in (`-m hub`, a minute or so): `.ci/run` runs it, and installs the proxy with npm first.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from tests.conftest import KATAS, ROOT, WORKBOOK

pytestmark = pytest.mark.hub

BIN = Path(sys.executable).parent
PROXY = os.environ.get("WORKBOOK_CHP") or shutil.which("configurable-http-proxy")
if not (BIN / "jupyterhub").exists() or not PROXY:
    if os.environ.get("CI"):
        raise RuntimeError("CI needs jupyterhub (requirements-dev.lock) and npm's configurable-http-proxy (.ci/run)")
    pytest.skip("needs jupyterhub and npm's configurable-http-proxy (npm install -g configurable-http-proxy)",
                allow_module_level=True)

PASSWORD = "katas"
LEARNERS = {"ada": 1, "bo": 2}  # each learner opens this many hint levels of the first kata

CONFIG = """
import shutil, subprocess
from pathlib import Path

c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = {port}
c.JupyterHub.hub_port = {hub_port}
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{api_port}"
c.ConfigurableHTTPProxy.command = [{proxy!r}]
c.JupyterHub.db_url = "sqlite:///{tmp}/hub.sqlite"
c.JupyterHub.cookie_secret_file = "{tmp}/cookie_secret"
c.JupyterHub.pid_file = "{tmp}/hub.pid"
c.JupyterHub.authenticator_class = "dummy"
c.DummyAuthenticator.password = {password!r}
c.JupyterHub.spawner_class = "simple"  # a local process per user, as the hub's own user
c.SimpleLocalProcessSpawner.home_dir_template = "{homes}/{{username}}"
c.Spawner.cmd = ["{bin}/jupyterhub-singleuser"]
c.Spawner.args = ["--allow-root"] if __import__("os").geteuid() == 0 else []
c.Spawner.notebook_dir = "{homes}/{{username}}/fastapi-katas"
c.Spawner.default_url = "/lab/tree/workspace/{first}"
c.Spawner.http_timeout = c.Spawner.start_timeout = 300
c.JupyterHub.services = [{{"name": "test", "api_token": {token!r}}}]
c.JupyterHub.load_roles = [{{"name": "test", "services": ["test"],
                            "scopes": ["admin:users", "admin:servers", "tokens", "access:servers"]}}]


def clone_the_workbook(spawner):
    # What nbgitpuller (or an image's start hook) does on a real hub: the learner's own copy,
    # then `kata update` makes their workspace.
    book = Path("{homes}") / spawner.user.name / "fastapi-katas"
    if not book.exists():
        book.mkdir(parents=True)
        for name in {names!r}:
            source = Path({root!r}) / name
            (shutil.copytree if source.is_dir() else shutil.copyfile)(source, book / name)
        subprocess.run(["{bin}/python", "-m", "kata.cli", "update", "--quiet"], cwd=book, check=True,
                       env={{"PYTHONPATH": str(book), "PATH": "/usr/bin:/bin"}})
    spawner.environment.update(PYTHONPATH=str(book), PATH="{bin}:/usr/bin:/bin")


c.Spawner.pre_spawn_hook = clone_the_workbook
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hub")
    (tmp / "homes").mkdir()
    (tmp / "room").mkdir()
    port, token = _free_port(), uuid.uuid4().hex
    first = KATAS[0].notebook.relative_to(ROOT / "notebooks").as_posix()
    (tmp / "jupyterhub_config.py").write_text(CONFIG.format(
        port=port, hub_port=_free_port(), api_port=_free_port(), proxy=PROXY, tmp=tmp, password=PASSWORD,
        homes=tmp / "homes", bin=BIN, first=first, token=token, names=(*WORKBOOK, "pyproject.toml"), root=str(ROOT)))
    log = (tmp / "hub.log").open("w")
    server = subprocess.Popen([str(BIN / "jupyterhub"), "-f", str(tmp / "jupyterhub_config.py")], cwd=tmp, stdout=log,
                              stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(1200):  # a bounded wait for the hub to come up, not a speed test
            if server.poll() is not None:
                pytest.fail(f"JupyterHub exited: {(tmp / 'hub.log').read_text()[-3000:]}")
            try:
                if httpx.get(f"{base}/hub/api", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.25)
        with httpx.Client(base_url=f"{base}/hub/api", headers={"Authorization": f"token {token}"}, timeout=60) as api:
            yield {"base": base, "port": port, "api": api, "tmp": tmp, "server": server}
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()


def _log_in(hub, name: str) -> None:
    """The login form, as a learner fills it in; the hub then starts their server."""
    with httpx.Client(base_url=hub["base"], follow_redirects=True, timeout=300) as browser:
        browser.get("/hub/login")
        answer = browser.post("/hub/login", data={"username": name, "password": PASSWORD,
                                                  "_xsrf": browser.cookies.get("_xsrf")})
        assert answer.status_code == 200, answer.text[:500]
    for _ in range(2400):  # bounded: a server that never starts fails the test
        if hub["api"].get(f"/users/{name}").json()["servers"].get("", {}).get("ready"):
            return
        time.sleep(0.25)
    pytest.fail(f"{name}'s server did not start: {(hub['tmp'] / 'hub.log').read_text()[-3000:]}")


def _execute(hub, name: str, token: str, cells: list[str], *, keep: bool = False) -> str:
    """Run ``cells`` in a new kernel of ``name``'s server, through the proxy, as a notebook does."""
    import websocket

    headers = {"Authorization": f"token {token}"}
    url = f"{hub['base']}/user/{name}/api/kernels"
    kernel = httpx.post(url, json={"name": "python3", "path": "workspace"}, headers=headers, timeout=120).json()
    channel = websocket.create_connection(f"ws://127.0.0.1:{hub['port']}/user/{name}/api/kernels/{kernel['id']}/channels",
                                          header=[f"Authorization: token {token}"], timeout=300)
    printed = []
    try:
        for code in cells:
            msg_id = uuid.uuid4().hex
            channel.send(json.dumps({
                "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": name, "session": msg_id,
                           "version": "5.3", "date": ""},
                "parent_header": {}, "metadata": {}, "channel": "shell",
                "content": {"code": code, "silent": False, "store_history": True, "user_expressions": {},
                            "allow_stdin": False, "stop_on_error": True}}))
            while True:
                message = json.loads(channel.recv())
                if message.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                if message["msg_type"] == "stream":
                    printed.append(message["content"]["text"])
                elif message["msg_type"] == "error":
                    printed.append("\n".join(message["content"]["traceback"]))
                elif message["msg_type"] == "execute_reply":
                    break
    finally:
        channel.close()
        if not keep:  # as closing the notebook does
            httpx.delete(f"{url}/{kernel['id']}", headers=headers, timeout=60)
    return "".join(printed)


def _memory(hub, name: str) -> int:
    """Resident memory (MB) of ``name``'s single-user server and its kernels."""
    import psutil

    home = str(hub["tmp"] / "homes" / name)
    total = 0
    for process in psutil.Process(hub["server"].pid).children(recursive=True):
        try:
            if home in " ".join(process.cmdline()) or process.cwd().startswith(home):
                total += process.memory_info().rss
        except psutil.Error:
            continue
    return total // 2**20


def test_two_learners_each_get_their_own_workspace_and_progress_and_the_room_sees_both(hub):
    for name in LEARNERS:
        _log_in(hub, name)
    homes, room = hub["tmp"] / "homes", hub["tmp"] / "room"
    first = KATAS[0]
    for name, hints in LEARNERS.items():
        token = hub["api"].post(f"/users/{name}/tokens", json={"note": "test"}).json()["token"]
        listing = httpx.get(f"{hub['base']}/user/{name}/api/contents/workspace/{first.notebook.parent.name}",
                            headers={"Authorization": f"token {token}"}, timeout=60).json()
        assert first.notebook.name in [entry["name"] for entry in listing["content"]], "their own workspace"
        kata = "import subprocess, sys\nrun = lambda *a: subprocess.run([sys.executable, '-m', 'kata.cli', *a], check=True)\n"
        printed = _execute(hub, name, token, [kata + f"run('join', {str(room)!r}, '--name', {name.title()!r})"]
                           + ["run('hint', '1')"] * hints)
        assert "Joined the room" in printed and "Traceback" not in printed, printed
        if name == "ada":  # Run All of the first kata in her kernel: what a learner's session weighs
            notebook = json.loads((homes / name / "fastapi-katas/workspace" /
                                   first.notebook.relative_to(ROOT / "notebooks")).read_text())
            cells = ["import os; os.chdir(%r)" % str(homes / name / "fastapi-katas/workspace" / first.notebook.parent.name)]
            cells += ["".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code"]
            _execute(hub, name, token, cells, keep=True)
            print(f"\nmemory of one learner after Run All of {first.id}: {_memory(hub, name)} MB "
                  "(single-user server and the notebook's kernel, resident)")
    for name, hints in LEARNERS.items():
        progress = json.loads((homes / name / "fastapi-katas/.kata/progress.json").read_text())
        assert progress["katas"][first.id]["hint"] == hints, f"{name}'s own progress"
    for _ in range(300):  # the room's sender runs in the background: a bounded wait for its files
        learners = list((room / "learners").glob("*.json"))
        results = {folder.name: len(list(folder.glob("*.json"))) for folder in (room / "results").glob("*")}
        if len(learners) == 2 and len(results) == 2 and min(results.values()) >= min(LEARNERS.values()):
            break
        time.sleep(0.1)
    names = sorted(json.loads(p.read_text())["name"] for p in learners)
    assert names == ["Ada", "Bo"], names
    assert set(results) == {p.stem for p in learners} and sum(results.values()) >= sum(LEARNERS.values()), results
