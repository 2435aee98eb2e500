"""Backups: build in Celery, download by signed URL, restore (idempotent, all or nothing)."""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from chat.models import ChatBackup, Message, Upload
from chat.services.backups import backups_expire
from chat.services.messages import message_recall
from tests.conftest import client_for

from .history_helpers import direct, group, say

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(make_user):
    return make_user("Alice")


@pytest.fixture
def bob(make_user):
    return make_user("Bob")


def make_backup(client) -> dict:
    r = client.post("/api/v1/backups")
    assert r.status_code == 202, r.content
    status = client.get(f"/api/v1/backups/{r.json()['id']}")
    assert status.status_code == 200
    body = status.json()
    assert body["status"] == "ready", body  # Celery runs eagerly in tests
    return body


def download(client, body) -> bytes:
    url = body["download_url"].replace("http://testserver", "")
    r = client.get(url)
    assert r.status_code == 200, getattr(r, "content", b"")[:300]
    assert r["Content-Type"] == "application/zip"
    return b"".join(r.streaming_content)


def restore(client, data: bytes, name="backup.zip"):
    return client.post(
        "/api/v1/backups/restore",
        {"archive": SimpleUploadedFile(name, data, content_type="application/zip")},
        format="multipart",
    )


def history(client, conv) -> list[dict]:
    r = client.get(f"/api/v1/conversations/{conv.pk}/messages?limit=200")
    assert r.status_code == 200
    # Ids are new after a restore; everything a person reads must be the same.
    return [{k: v for k, v in m.items() if k != "id"} for m in r.json()["results"]]


def with_attachment(owner):
    upload = Upload(
        owner=owner,
        token="att" + "y" * 20,
        kind="file",
        name="plan.txt",
        content_type="text/plain",
        size=9,
        extension=".txt",
    )
    upload.file.save("plan.txt", ContentFile(b"the plan!"), save=False)
    upload.save()
    return upload


def test_round_trip_export_wipe_restore_reads_the_same(alice, bob):
    conv = direct(alice, bob)
    team = group(alice, bob, title="Trip")
    say(alice, conv, "hello bob")
    say(bob, conv, "hi alice 你好")
    upload = with_attachment(alice)
    say(alice, conv, "", kind="file", payload={"upload_id": upload.token})
    say(bob, team, "tickets booked")
    client = client_for(alice)
    before = {c.pk: history(client, c) for c in (conv, team)}

    body = make_backup(client)
    assert body["conversations"] == 2 and body["messages"] == 4 + 0
    data = download(client, body)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        assert manifest["format_version"] == 1 and manifest["user_id"] == alice.pk
        assert f"attachments/{upload.token}" in manifest["files"]
        assert zf.read(f"attachments/{upload.token}") == b"the plan!"

    # Wipe: the messages and the attachment (file and row) are gone from the server.
    file_name = upload.file.name
    Message.objects.filter(conversation_id__in=[conv.pk, team.pk]).delete()
    Upload.objects.filter(pk=upload.pk).delete()
    default_storage.delete(file_name)
    assert history(client, conv) == []

    r = restore(client, data)
    assert r.status_code == 200, r.content
    assert r.json()["messages_added"] == 4
    assert r.json()["attachments_restored"] == 1
    after = {c.pk: history(client, c) for c in (conv, team)}
    assert after == before
    restored = Upload.objects.get(token=upload.token)
    assert restored.file.read() == b"the plan!"
    # Bob reads the same history too, and search finds restored text.
    assert history(client_for(bob), conv) == before[conv.pk]
    hits = client.get("/api/v1/search/messages", {"q": "tickets"}).json()["results"]
    assert [h["message"]["text"] for h in hits] == ["tickets booked"]

    # Twice adds nothing.
    again = restore(client, data)
    assert again.status_code == 200 and again.json()["messages_added"] == 0
    assert {c.pk: history(client, c) for c in (conv, team)} == before


def test_restore_fills_only_the_gaps(alice, bob):
    conv = direct(alice, bob)
    kept = say(alice, conv, "kept")
    lost = say(bob, conv, "lost")
    client = client_for(alice)
    data = download(client, make_backup(client))
    Message.objects.filter(pk=lost.pk).delete()
    r = restore(client, data)
    assert r.json()["messages_added"] == 1 and r.json()["messages_skipped"] == 1
    assert Message.objects.filter(pk=kept.pk).exists()
    assert Message.objects.get(conversation=conv, seq=lost.seq).text == "lost"


def test_restore_never_brings_back_a_recall(alice, bob):
    conv = direct(alice, bob)
    m = say(alice, conv, "typo")
    client = client_for(alice)
    data = download(client, make_backup(client))
    message_recall(user=alice, conversation_id=conv.pk, seq=m.seq)
    assert restore(client, data).json()["messages_added"] == 0
    assert Message.objects.get(pk=m.pk).text == ""


def test_a_foreign_archive_is_refused(alice, bob):
    direct(alice, bob)
    data = download(client_for(bob), make_backup(client_for(bob)))
    r = restore(client_for(alice), data)
    assert r.status_code == 422 and r.json()["error"]["code"] == "backup_foreign"


def _rewrite(data: bytes, change) -> bytes:
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        files = {name: src.read(name) for name in src.namelist()}
        change(files)
        for name, body in files.items():
            dst.writestr(name, body)
    return out.getvalue()


def _conv_file(files):
    return next(n for n in files if n.startswith("conversations/"))


def test_tampered_archives_are_refused_and_nothing_is_imported(alice, bob):
    conv = direct(alice, bob)
    say(alice, conv, "original text")
    client = client_for(alice)
    data = download(client, make_backup(client))
    Message.objects.filter(conversation=conv).delete()

    def edit_message(files):
        name = _conv_file(files)
        files[name] = files[name].replace(b"original", b"forged!!")

    def edit_manifest_checksum(files):
        edit_message(files)
        manifest = json.loads(files["manifest.json"])
        import hashlib

        name = _conv_file(files)
        manifest["files"][name] = hashlib.sha256(files[name]).hexdigest()
        files["manifest.json"] = json.dumps(manifest).encode()

    def claim_other_account(files):
        manifest = json.loads(files["manifest.json"])
        manifest["user_id"] = bob.pk
        files["manifest.json"] = json.dumps(manifest).encode()

    def add_file(files):
        files["conversations/999.jsonl"] = b""

    def drop_signature(files):
        del files["manifest.sig"]

    cases = {
        "backup_checksum_mismatch": edit_message,
        "backup_tampered": edit_manifest_checksum,
        "backup_foreign": claim_other_account,
    }
    for code, change in cases.items():
        r = restore(client, _rewrite(data, change))
        assert r.status_code == 422, (code, r.content)
        assert r.json()["error"]["code"] == code
    r = restore(client, _rewrite(data, add_file))
    assert r.json()["error"]["code"] == "backup_tampered"
    r = restore(client, _rewrite(data, drop_signature))
    assert r.json()["error"]["code"] == "backup_corrupt"
    assert not Message.objects.filter(conversation=conv).exists()


@pytest.mark.parametrize("data", [b"not a zip at all", b"PK\x03\x04garbage" * 10])
def test_corrupt_archives_are_refused(alice, data):
    r = restore(client_for(alice), data)
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "backup_corrupt"


def test_an_empty_upload_is_a_400(alice):
    r = restore(client_for(alice), b"")
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid"


def test_restore_needs_a_file(alice):
    r = client_for(alice).post("/api/v1/backups/restore", {}, format="multipart")
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid"


def test_backup_status_is_private(alice, bob):
    body = make_backup(client_for(alice))
    r = client_for(bob).get(f"/api/v1/backups/{body['id']}")
    assert r.status_code == 404


def test_download_link_is_signed_and_expires(alice, api):
    body = make_backup(client_for(alice))
    url = body["download_url"].replace("http://testserver", "")
    assert api.get(url).status_code == 200  # the link itself is the credential
    assert api.get(url[:-3] + "abc").status_code == 404
    assert api.get(f"/api/v1/backups/{body['id']}/download").status_code == 400
    other = url.replace(f"/backups/{body['id']}/", f"/backups/{body['id'] + 1}/")
    assert api.get(other).status_code == 404


def test_old_archives_are_deleted(alice):
    body = make_backup(client_for(alice))
    backup = ChatBackup.objects.get(pk=body["id"])
    name = backup.file.name
    assert default_storage.exists(name)
    assert backups_expire() == 0
    assert backups_expire(now=timezone.now() + dt.timedelta(hours=25)) == 1
    backup.refresh_from_db()
    assert backup.status == "expired" and not backup.file
    assert not default_storage.exists(name)
    assert client_for(alice).get(f"/api/v1/backups/{body['id']}").json()["download_url"] is None
    assert backups_expire(now=timezone.now() + dt.timedelta(hours=25)) == 0


def test_a_zip_without_a_real_manifest_is_refused(alice):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("manifest.json/", b"")  # a directory, not a file
        zf.writestr("manifest.sig", b"x")
    r = restore(client_for(alice), out.getvalue())
    assert r.status_code == 422 and r.json()["error"]["code"] == "backup_corrupt"


def test_download_of_an_archive_missing_from_storage_is_a_404(alice, api):
    body = make_backup(client_for(alice))
    default_storage.delete(ChatBackup.objects.get(pk=body["id"]).file.name)
    assert api.get(body["download_url"].replace("http://testserver", "")).status_code == 404
