"""Start real Plaza server processes (uvicorn) on free ports, for e2e tests and bench/.

The servers get their own database: a fresh SQLite file in the embedded shape, or a fresh
PostgreSQL database cloned from a migrated template in the production shape (when
DATABASE_URL points at PostgreSQL). With REDIS_URL set, several processes share the Redis
channel layer, so a client on one server hears a message sent through another.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_admin(url: str, sql: str) -> None:
    import psycopg

    base = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(sql)


@dataclass
class Servers:
    urls: list[str]
    env: dict
    workdir: Path
    procs: list[subprocess.Popen] = field(default_factory=list)
    database_name: str | None = None
    root: Path = ROOT  # the checkout the processes run (their cwd)

    @property
    def url(self) -> str:
        return self.urls[0]

    def ws_url(self, i: int = 0) -> str:
        return self.urls[i].replace("http://", "ws://") + "/ws/"

    def sms_code(self, phone: str, timeout: float = 10) -> str:
        """The newest code sent to `phone` through the file SMS backend."""
        path = Path(self.env["SMS_FILE_PATH"])
        deadline = time.time() + timeout
        while time.time() < deadline:
            if path.exists():
                for line in reversed(path.read_text().splitlines()):
                    to, text = line.split("\t", 1)
                    if to == phone:
                        return next(w for w in text.split() if w.rstrip(".").isdigit()).rstrip(".")
            time.sleep(0.05)
        raise TimeoutError(f"no SMS for {phone}")

    def manage(self, *args: str) -> str:
        out = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        )
        return out.stdout

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        if self.database_name:
            with contextlib.suppress(Exception):  # cleanup is best effort
                _pg_admin(
                    self.env["DATABASE_URL"],
                    f'DROP DATABASE IF EXISTS "{self.database_name}" WITH (FORCE)',
                )
        shutil.rmtree(self.workdir, ignore_errors=True)


def start_uvicorn(
    root: Path,
    env: dict,
    workdir: Path,
    uvicorn_args: list[str] | None = None,
    *,
    log_prefix: str = "server",
) -> tuple[subprocess.Popen, str]:
    """One uvicorn process of the checkout at `root` (its cwd, so `config.asgi` is that
    tree's) on a free port, logging to `workdir`/<log_prefix>-<port>.log: (process, url).
    It is not waited for: see `wait_healthy`."""
    port = free_port()
    log = open(workdir / f"{log_prefix}-{port}.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "config.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
            "--log-level",
            "warning",
            *(uvicorn_args or []),
        ],
        cwd=root,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    return proc, f"http://127.0.0.1:{port}"


def start_servers(
    count: int = 1,
    *,
    root: Path = ROOT,
    extra_env: dict | None = None,
    worker: bool = False,
    uvicorn_args: list[str] | None = None,
) -> Servers:
    """`count` uvicorn processes (and a Celery worker with `worker`) of the checkout at
    `root` on a fresh database, healthy when this returns."""
    workdir = Path(tempfile.mkdtemp(prefix="plaza-e2e-"))
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTEST", "PLAZA_TESTING", "DJANGO_SETTINGS"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        PLAZA_VAR_DIR=str(workdir / "var"),
        SMS_BACKEND="accounts.sms.FileBackend",
        SMS_FILE_PATH=str(workdir / "sms.log"),
        CELERY_TASK_ALWAYS_EAGER="0" if worker else "1",
        OTP_RATE_PER_PHONE="1000/m",
        OTP_RATE_PER_IP="100000/h",
        LOGIN_RATE_PER_IP="100000/m",
        PYTHONUNBUFFERED="1",
        DEBUG="false",  # like production: no query log, no debug pages
    )
    env.update(extra_env or {})
    servers = Servers(urls=[], env=env, workdir=workdir, root=root)
    db_url = env.get("DATABASE_URL", "")
    if db_url.startswith("postgres"):
        name = f"plaza_e2e_{uuid.uuid4().hex[:10]}"
        _pg_admin(db_url, f'CREATE DATABASE "{name}"')
        env["DATABASE_URL"] = db_url.rsplit("/", 1)[0] + "/" + name
        servers.database_name = name
    else:
        env["SQLITE_PATH"] = str(workdir / "plaza.sqlite3")
    try:
        servers.manage("migrate", "--noinput")
        for _ in range(count):
            proc, url = start_uvicorn(root, env, workdir, uvicorn_args)
            servers.procs.append(proc)
            servers.urls.append(url)
        if worker:
            log = open(workdir / "worker.log", "w")  # noqa: SIM115
            servers.procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "celery",
                        "-A",
                        "config",
                        "worker",
                        "-B",
                        "-l",
                        "warning",
                        "--concurrency",
                        "1",
                        "-s",
                        str(workdir / "beat-schedule"),
                    ],
                    cwd=root,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        for url in servers.urls:
            wait_healthy(url, servers.procs, workdir)
    except BaseException:
        servers.stop()
        raise
    return servers


def wait_healthy(
    url: str, procs: list[subprocess.Popen], workdir: Path, timeout: float = 60
) -> None:
    """Wait until `url` answers /healthz; fail early, with the tail of every log in
    `workdir`, if one of `procs` exits meanwhile."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        for p in procs:
            if p.poll() is not None:
                logs = "\n".join(f.read_text()[-3000:] for f in workdir.glob("*.log"))
                raise RuntimeError(f"a server process exited early:\n{logs}")
        try:
            if httpx.get(url + "/healthz", timeout=2).status_code in (200, 503):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not come up")


def login(servers: Servers, phone: str, *, base: str | None = None) -> tuple[str, dict]:
    """Log in over HTTP the way an app does; returns (token, user)."""
    base = base or servers.url
    r = httpx.post(base + "/api/v1/auth/otp", json={"phone": phone}, timeout=10)
    r.raise_for_status()
    code = servers.sms_code(phone)
    r = httpx.post(
        base + "/api/v1/auth/token",
        json={"phone": phone, "code": code, "device": "e2e"},
        timeout=10,
    )
    r.raise_for_status()
    body = r.json()
    return body["token"], body["user"]
