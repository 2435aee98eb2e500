from pathlib import Path

import pytest
import responses
from django.core.management import call_command

from accounts.sms import HttpSmsBackend, SmsError, send_sms


@responses.activate
def test_http_provider_posts_form_with_basic_auth(settings):
    settings.SMS_HTTP_URL = "https://sms.example/Messages.json"
    settings.SMS_HTTP_ACCOUNT = "AC1"
    settings.SMS_HTTP_TOKEN = "tok"
    responses.post("https://sms.example/Messages.json", status=201, json={"sid": "SM1"})
    HttpSmsBackend().send("+14155550123", "Your Plaza code is 123456.")
    call = responses.calls[0]
    assert "To=%2B14155550123" in call.request.body
    assert call.request.headers["Authorization"].startswith("Basic ")


@responses.activate
def test_http_provider_error_raises_so_the_task_retries(settings):
    settings.SMS_HTTP_URL = "https://sms.example/Messages.json"
    responses.post("https://sms.example/Messages.json", status=500)
    with pytest.raises(SmsError):
        HttpSmsBackend().send("+14155550123", "x")


def test_file_backend_appends_lines(settings, tmp_path):
    settings.SMS_BACKEND = "accounts.sms.FileBackend"
    settings.SMS_FILE_PATH = str(tmp_path / "sms.log")
    send_sms("+14155550123", "one")
    send_sms("+14155550124", "two")
    assert Path(settings.SMS_FILE_PATH).read_text().splitlines() == [
        "+14155550123\tone",
        "+14155550124\ttwo",
    ]


@pytest.mark.django_db
def test_seed_demo_is_idempotent(capsys):
    from accounts.models import User

    call_command("seed_demo")
    first = User.objects.count()
    call_command("seed_demo")
    assert User.objects.count() == first >= 3
