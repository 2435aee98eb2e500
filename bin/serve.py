"""`make run`: the ASGI server with a Celery worker (and beat) beside it.

Background work never runs inside a request: the worker takes it from the broker
(kombu's filesystem transport in the embedded default). Ctrl-C stops both.
"""

import argparse
import os
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", 8000)))
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args()
    venv_bin = Path(sys.executable).parent
    worker = subprocess.Popen(
        [
            str(venv_bin / "celery"),
            "-A",
            "config",
            "worker",
            "-B",
            "-l",
            "warning",
            "--concurrency",
            "1",
            "-s",
            str(ROOT / "var" / "celerybeat-schedule"),
        ],
        cwd=ROOT,
    )
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "config.asgi:application",
            "--host",
            args.host,
            "--port",
            str(args.port),
            "--ws-ping-interval",
            "30",
            "--ws-per-message-deflate",  # docs/OPERATIONS.md: small frames, big zlib state
            "false",
            "--no-access-log",
        ],
        cwd=ROOT,
    )
    try:
        return server.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        for proc in (server, worker):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in (server, worker):
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


if __name__ == "__main__":
    sys.exit(main())
