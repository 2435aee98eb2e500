import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROD = {
    "PLAZA_ENV": "production",
    "DEBUG": "false",
    "SECRET_KEY": "k" * 30 + "-production-secret-for-the-deploy-check-0123456789",
    "ALLOWED_HOSTS": "plaza.example",
    "MERCHANT_SECRET_KEYS": "Q0yA2xW1s8wJc6qV9wq8Yk3p6m0n9b2x7c4v5b6n7m8=",
    "SMS_BACKEND": "accounts.sms.HttpSmsBackend",
}


def manage(*args, **env):
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PLAZA_", "DEBUG"))}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_in_production():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PROD)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_secret_key():
    env = {**PROD, "SECRET_KEY": ""}
    result = manage("check", **env)
    assert result.returncode != 0 and "SECRET_KEY" in result.stderr


def test_production_refuses_to_start_without_allowed_hosts():
    env = {**PROD, "ALLOWED_HOSTS": ""}
    result = manage("check", **env)
    assert result.returncode != 0 and "ALLOWED_HOSTS" in result.stderr


def test_production_refuses_debug():
    result = manage("check", **{**PROD, "DEBUG": "true"})
    assert result.returncode != 0 and "DEBUG" in result.stderr
