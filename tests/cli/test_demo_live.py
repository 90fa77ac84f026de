"""A running demo can be explored with the rest of the CLI (issue 21).

The slow test starts `pims-sync demo` for real (embedded PostgreSQL and Redis, worker, beat,
API, Flower, Chromium) and drives status/history/health/sync/menu from the same folder with no
URL in the environment. The fast tests cover the state file's rules with a stand-in process
playing the demo: stale files, a reused pid, settings from the environment or .env winning,
`demo env`, and a second demo refused.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import psutil
import pytest

from pims_sync.cli.demo_seed import demo_schedules, every_cron, parse_every
from pims_sync.cli.demo_state import (
    DemoState,
    apply_live_demo,
    overlay,
    process_started,
    refresh_live_demo,
    write_state,
)
from tests.cli.test_demo import TreeWatcher, own_temp_folder, processes_using

DEMO_LINE = "using the running demo in .data/demo"
NOT_OURS = ("DATABASE_URL", "REDIS_URL", "SUPABASE_URL", "SUPABASE_SERVICE_ROLE_KEY", "IDEXX_ENCRYPTION_KEY",
            "FLOWER_BASIC_AUTH", "PORT", "IDEXX_BASE_URL", "APP_ENV")
ANSI = re.compile(r"\x1b\[[0-9;?]*[a-zA-Z]|\x1b\][^\x07]*\x07")


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without any URL or key: what a newcomer's second terminal has."""
    env = {k: v for k, v in os.environ.items() if k not in NOT_OURS and not k.startswith("IDEXX_ENCRYPTION_KEY_")}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def cli(folder: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pims_sync.cli.main", *args], cwd=folder, env=env or clean_env(),
                          capture_output=True, text=True, timeout=timeout)


def wait_for(condition, *, timeout_s: float, what: str, every_s: float = 1.0):
    """Poll until condition() is truthy (returns it); fail naming `what` after a generous deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(every_s)


# --- the real demo ---------------------------------------------------------------------------------


class Demo:
    """`pims-sync demo` in its own session, its output collected line by line."""

    def __init__(self, folder: Path, *args: str):
        argv = [sys.executable, "-m", "pims_sync.cli.main", "demo", *args]
        self.proc = subprocess.Popen(argv, cwd=folder, env=clean_env(), stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, start_new_session=True)
        self.watcher = TreeWatcher(self.proc.pid)
        self.lines: list[str] = []
        self.running = threading.Event()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.left_behind: list[str] = []

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line)
            if "Press Ctrl-C to stop" in line:
                self.running.set()

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def process_groups(self) -> set[int]:
        groups = {self.proc.pid}  # its own session: its pgid is its pid
        for pid in self.watcher.seen:
            try:
                groups.add(os.getpgid(pid))
            except OSError:
                continue
        return groups

    def close(self) -> None:
        """Stop the demo however the test ended, so a failed test leaves nothing running.

        A demo still running gets Ctrl-C first (it stops what it started). What is still alive
        in its process groups after it exited is recorded in ``left_behind`` (the tests assert
        it is empty) and then killed.
        """
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=30)
        groups = self.process_groups()
        self.left_behind = members_of(groups)
        for group in groups:
            try:
                os.killpg(group, signal.SIGKILL)
            except OSError:
                continue
        self.watcher.stop()
        self.reader.join(timeout=5)


def members_of(groups: set[int]) -> list[str]:
    """Live processes (zombies aside) still in any of these process groups."""
    left = []
    for p in psutil.process_iter(["pid", "name", "status"]):
        try:
            if p.info["status"] != psutil.STATUS_ZOMBIE and os.getpgid(p.pid) in groups:
                left.append(f"{p.pid} {p.info['name']}")
        except (OSError, psutil.Error):
            continue
    return left


def sync_with_retry(folder: Path, clinic_id: str) -> dict:
    """`sync inbound --json`; a 409 (sync_in_progress: beat got there first) is retried."""
    tried: list[str] = []

    def attempt():
        done = cli(folder, "sync", "inbound", "--clinic", clinic_id, "--json", "--timeout", "240")
        if done.returncode == 1 and "sync_in_progress" in done.stderr:
            tried.append("409")
            return None
        assert done.returncode == 0, f"sync exited {done.returncode}:\n{done.stderr[-3000:]}\n{done.stdout[-2000:]}"
        return json.loads(done.stdout)

    return wait_for(attempt, timeout_s=600, what=f"a sync of {clinic_id} not refused as in progress", every_s=2)


def menu_shows(folder: Path, names: list[str]) -> str:
    """Drive `pims-sync menu` through a pseudo-terminal: status (2), then exit (0).

    The terminal is 200 columns, by its size and by COLUMNS (rich reads COLUMNS first, and a
    parent may have set it), so a clinic's name is never wrapped across table rows."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
    proc = subprocess.Popen([sys.executable, "-m", "pims_sync.cli.main", "menu"], cwd=folder,
                            env=clean_env(TERM="xterm", COLUMNS="200", LINES="50"), stdin=slave, stdout=slave, stderr=slave,
                            start_new_session=True, close_fds=True)
    os.close(slave)
    seen = bytearray()

    def read_until(predicate, what: str) -> None:
        deadline = time.monotonic() + 120
        while not predicate(ANSI.sub("", seen.decode(errors="replace"))):
            if time.monotonic() > deadline:
                pytest.fail(f"menu never showed {what}:\n{ANSI.sub('', seen.decode(errors='replace'))[-3000:]}")
            ready, _, _ = select.select([master], [], [], 1)
            if ready:
                try:
                    seen.extend(os.read(master, 65536))
                except OSError:  # the child closed the terminal
                    if proc.poll() is not None:
                        pytest.fail(f"menu exited {proc.returncode}:\n{seen.decode(errors='replace')[-3000:]}")

    try:
        read_until(lambda text: "choose" in text, "its prompt")
        os.write(master, b"2\n")
        read_until(lambda text: all(n in text for n in names) and text.count("choose") >= 2, "every clinic")
        os.write(master, b"0\n")
        assert proc.wait(timeout=60) == 0
        return ANSI.sub("", seen.decode(errors="replace"))
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        os.close(master)


@pytest.fixture
def demo_folder():
    with own_temp_folder() as path:
        yield path


@pytest.mark.slow
def test_running_demo_is_explored_with_the_rest_of_the_cli(demo_folder):
    folder = demo_folder / "newcomer"
    folder.mkdir()
    demo = Demo(folder, "--clinics", "2", "--schedule-every", "1m", "--port", "0", "--flower-port", "0",
                "--simulator-port", "0", "--redis-port", "0", "--timeout", "300")
    try:
        wait_for(lambda: demo.running.is_set() or demo.proc.poll() is not None, timeout_s=600,
                 what="the demo to say Running", every_s=0.5)
        assert demo.running.is_set(), f"the demo exited {demo.proc.returncode}:\n{demo.output[-5000:]}"
        out = demo.output
        for hint in ("pims-sync menu", "pims-sync status --watch", "pims-sync history", "pims-sync sync full --clinic"):
            assert hint in out, out[-3000:]
        # two IDEXX Neo clinics and the ezyVet one
        assert re.search(r"Next scheduled sync: inbound for 3 clinic\(s\) at \d\d:\d\d:\d\d .*every 1m", out), out[-3000:]
        running_since = datetime.now(UTC)

        state_file = folder / ".data" / "demo" / "state.json"
        state = json.loads(state_file.read_text())
        key = (folder / ".data" / "demo" / "encryption.key").read_text().strip()
        assert key and key not in state_file.read_text()
        ids = state["clinic_ids"]
        assert len(ids) == 3 and state["ezyvet_url"].startswith("http://127.0.0.1:")

        status = cli(folder, "status", "--json")
        assert status.returncode == 0, status.stderr
        assert DEMO_LINE in status.stderr
        clinics = {c["clinicId"]: c["name"] for c in json.loads(status.stdout)["clinics"]}
        assert set(ids) <= set(clinics)

        history = cli(folder, "history", "--json", "--limit", "500")
        assert history.returncode == 0, history.stderr
        assert set(ids) <= {s["clinicId"] for s in json.loads(history.stdout)["syncs"]}

        health = cli(folder, "health", "--json")
        assert health.returncode == 0, health.stderr + health.stdout
        body = json.loads(health.stdout)
        assert body["healthy"] and body["workers"], body
        assert body["checks"]["api"]["url"] == state["api_url"]
        assert set(ids) <= {c["id"] for c in body["clinics"]}  # every demo clinic
        assert body["memory"]["apiRssMb"] > 0  # the demo API server's own memory, from its /health

        env = cli(folder, "demo", "env")
        assert env.returncode == 0, env.stderr
        assert f"export DATABASE_URL={state['database_url']}" in env.stdout.replace("'", "")
        assert key not in env.stdout

        result = sync_with_retry(folder, ids[0])
        assert result["status"] == "completed", result
        assert result["clinicId"] == ids[0]
        # the ezyVet clinic, through the same worker (its phases on the api queue)
        ezy = sync_with_retry(folder, ids[-1])
        assert ezy["status"] == "completed" and ezy["clinicId"] == ids[-1], ezy
        shown = cli(folder, "clinics", "show", ids[-1], "--json")
        assert shown.returncode == 0, shown.stderr
        view = json.loads(shown.stdout)
        assert view["pimsProvider"] == "ezyvet" and view["pimsSiteTimezone"] == view["timezone"]
        assert view["warnings"] == []

        menu_shows(folder, [clinics[i] for i in ids])

        def scheduled_since():
            page = cli(folder, "history", "--json", "--limit", "500", "--type", "inbound")
            assert page.returncode == 0, page.stderr
            return [s for s in json.loads(page.stdout)["syncs"] if s["trigger"] == "schedule"
                    and datetime.fromisoformat(s["createdAt"]) > running_since and s["clinicId"] in ids]

        arrived = wait_for(scheduled_since, timeout_s=300, what="a scheduled inbound sync after the demo was running",
                           every_s=5)
        assert arrived[0]["type"] == "inbound"

        groups = demo.process_groups()
        demo.proc.send_signal(signal.SIGINT)
        assert demo.proc.wait(timeout=120) == 0, demo.output[-4000:]
    finally:
        demo.close()

    out = demo.output
    assert "Interrupted" in out and "no demo process is left running" in out
    assert any("chrom" in name for _, name in demo.watcher.seen.values()), "no Chromium was ever started"
    assert demo.watcher.survivors() == []
    assert demo.left_behind == [] and members_of(groups) == []
    assert processes_using(folder) == []
    assert not state_file.exists()

    gone = cli(folder, "demo", "env")
    assert gone.returncode == 1 and "no demo is running in .data/demo" in gone.stderr
    after = cli(folder, "status", "--json")
    assert after.returncode == 2 and "DATABASE_URL" in after.stderr
    assert DEMO_LINE not in after.stderr


# --- the state file's rules, with a stand-in for the demo process -------------------------------------


@pytest.fixture
def stand_in():
    """A live process that plays the demo (its pid and create time go into the state file)."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait(timeout=30)


def write_demo_state(folder: Path, pid: int, database_url: str, redis_url: str, *, started: float | None = None):
    data_dir = folder / ".data" / "demo"
    data_dir.mkdir(parents=True, exist_ok=True)
    key_file = data_dir / "encryption.key"
    key_file.write_text("stand-in-demo-key-0123456789abcdefghij\n")
    state = DemoState(pid=pid, pid_started=process_started(pid) if started is None else started,
                      data_dir=str(data_dir), database_url=database_url, redis_url=redis_url,
                      api_url="http://127.0.0.1:59999", simulator_url="http://127.0.0.1:59998",
                      encryption_key_file=str(key_file), clinic_ids=("c1",))
    return write_state(state)


def test_a_live_demo_state_is_used_and_announced(tmp_path, stand_in, database_url, redis_url, store):
    clinic = store.create_clinic(name="Stand-in Demo Clinic", timezone="Europe/London")
    path = write_demo_state(tmp_path, stand_in.pid, database_url, redis_url)
    assert oct(path.stat().st_mode & 0o777) == "0o600"

    done = cli(tmp_path, "status", "--json")

    assert done.returncode == 0, done.stderr
    assert DEMO_LINE in done.stderr and DEMO_LINE not in done.stdout
    assert clinic.id in {c["clinicId"] for c in json.loads(done.stdout)["clinics"]}


def test_demo_env_exports_lines_a_shell_can_eval(tmp_path, stand_in, database_url, redis_url):
    write_demo_state(tmp_path, stand_in.pid, database_url, redis_url)

    done = cli(tmp_path, "demo", "env")

    assert done.returncode == 0, done.stderr
    assert "stand-in-demo-key" not in done.stdout  # the key stays in its file
    shell = subprocess.run(["bash", "-c", 'eval "$(cat)"; printf "%s\\n%s\\n%s" "$DATABASE_URL" "$REDIS_URL" '
                            '"$IDEXX_ENCRYPTION_KEY"'], input=done.stdout, capture_output=True, text=True, timeout=30)
    assert shell.stdout.splitlines() == [database_url, redis_url, "stand-in-demo-key-0123456789abcdefghij"]


def test_a_stale_state_is_ignored_and_the_usual_error_stays(tmp_path, database_url, redis_url):
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    started = process_started(gone.pid)
    gone.wait(timeout=30)
    write_demo_state(tmp_path, gone.pid, database_url, redis_url, started=started)

    status = cli(tmp_path, "status", "--json")
    env = cli(tmp_path, "demo", "env")

    assert status.returncode == 2 and "DATABASE_URL" in status.stderr and DEMO_LINE not in status.stderr
    assert env.returncode == 1 and "no demo is running" in env.stderr


def test_a_reused_pid_is_not_the_demo(tmp_path, stand_in, database_url, redis_url):
    write_demo_state(tmp_path, stand_in.pid, database_url, redis_url, started=process_started(stand_in.pid) - 3600)

    status = cli(tmp_path, "status", "--json")

    assert status.returncode == 2 and DEMO_LINE not in status.stderr


@pytest.mark.parametrize("where", ["environment", ".env", ".env.local"])
def test_settings_the_user_gave_win_over_the_demo(tmp_path, stand_in, database_url, redis_url, where):
    write_demo_state(tmp_path, stand_in.pid, database_url, redis_url)
    elsewhere = "postgresql://postgres@127.0.0.1:1/not_the_demo"
    env = clean_env()
    if where == "environment":
        env["DATABASE_URL"] = elsewhere
    else:
        (tmp_path / where).write_text(f"DATABASE_URL={elsewhere}\n")

    status = cli(tmp_path, "status", "--json", env=env)

    assert DEMO_LINE not in status.stderr
    assert status.returncode != 0  # not the demo's (reachable) database
    if where == "environment":
        assert "127.0.0.1:1" in status.stderr  # the one the user gave


def test_a_second_demo_in_the_same_folder_is_refused(tmp_path, stand_in, database_url, redis_url):
    write_demo_state(tmp_path, stand_in.pid, database_url, redis_url)

    done = cli(tmp_path, "demo", "--once", "--port", "0", timeout=60)

    assert done.returncode == 1
    assert f"already running from {tmp_path / '.data' / 'demo'} (pid {stand_in.pid})" in done.stderr


def test_refresh_follows_a_demo_that_restarted_or_stopped(tmp_path, stand_in):
    """The menu's "refresh connection": the demo's new URLs replace the old; a stopped demo leaves none."""
    environ = {"HOME": "/nowhere", "IDEXX_ENCRYPTION_KEY": "the-users-own-key-0123456789abcdefgh"}
    write_demo_state(tmp_path, stand_in.pid, "postgresql://a@/first?host=/x", "redis://127.0.0.1:1111/0")
    assert apply_live_demo("menu", environ=environ, folder=tmp_path) is not None
    assert environ["REDIS_URL"] == "redis://127.0.0.1:1111/0"
    assert environ["IDEXX_ENCRYPTION_KEY"] == "the-users-own-key-0123456789abcdefgh"  # the user's wins

    write_demo_state(tmp_path, stand_in.pid, "postgresql://a@/second?host=/x", "redis://127.0.0.1:2222/0")
    assert refresh_live_demo("menu", environ=environ, folder=tmp_path) is not None
    assert (environ["DATABASE_URL"], environ["REDIS_URL"]) == ("postgresql://a@/second?host=/x", "redis://127.0.0.1:2222/0")

    (tmp_path / ".data" / "demo" / "state.json").unlink()
    assert refresh_live_demo("menu", environ=environ, folder=tmp_path) is None
    assert environ == {"HOME": "/nowhere", "IDEXX_ENCRYPTION_KEY": "the-users-own-key-0123456789abcdefgh"}


def test_overlay_fills_only_what_nobody_set():
    implied = {"DATABASE_URL": "d", "IDEXX_ENCRYPTION_KEY": "k", "IDEXX_BASE_URL": "s", "PORT": "1"}

    got = overlay(implied, {"IDEXX_ENCRYPTION_KEY": "mine", "PORT": " "}, {"IDEXX_BASE_URL": "file"})

    assert got == {"DATABASE_URL": "d", "PORT": "1"}


@pytest.mark.parametrize(("text", "minutes", "cron"), [
    ("1m", 1, "* * * * *"), ("30m", 30, "*/30 * * * *"), ("45", 45, "*/45 * * * *"),
    ("1h", 60, "0 * * * *"), ("6h", 360, "0 */6 * * *"), ("24h", 1440, "0 0 * * *"),
])  # fmt: skip
def test_schedule_every_becomes_the_inbound_cron(text, minutes, cron):
    assert parse_every(text) == minutes
    assert every_cron(minutes) == cron
    inbound = [s for s in demo_schedules(minutes) if s["type"] == "inbound"]
    assert inbound == [{"type": "inbound", "cron": cron, "enabled": True}]


@pytest.mark.parametrize("text", ["0m", "90m", "25h", "1.5h", "soon", ""])
def test_schedule_every_refuses_what_cron_cannot_step(text):
    with pytest.raises(ValueError, match="1m to 59m"):
        parse_every(text)
