import io
import struct
import wave

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from chat.services.conversations import conversation_get_or_create_direct

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def png(w=40, h=30) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (w, h), (200, 10, 10)).save(buf, "PNG")
    return buf.getvalue()


def wav(seconds: float, rate: int = 8000) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(1)
        w.setframerate(rate)
        w.writeframes(b"\x80" * int(rate * seconds))
    return buf.getvalue()


def ogg_opus(seconds: float) -> bytes:
    def page(granule: int, body: bytes, header_type: int) -> bytes:
        head = b"OggS" + bytes([0, header_type]) + struct.pack("<qIIIB", granule, 1, 0, 0, 1)
        return head + bytes([len(body)]) + body

    opus_head = b"OpusHead" + bytes([1, 1]) + struct.pack("<HIhB", 312, 48000, 0, 0)
    return page(0, opus_head, 2) + page(int(seconds * 48000) + 312, b"\x00" * 10, 4)


def upload(client, kind, data, name):
    f = SimpleUploadedFile(name, data, content_type="application/octet-stream")
    return client.post("/api/v1/uploads", {"kind": kind, "file": f}, format="multipart")


def test_image_upload_then_image_message(auth_client, other_user, client_of):
    r = upload(auth_client, "image", png(), "cat.png")
    assert r.status_code == 201, r.content
    body = r.json()
    assert (body["width"], body["height"], body["content_type"]) == (40, 30, "image/png")
    conv, _ = conversation_get_or_create_direct(user=auth_client.user, other_user_id=other_user.pk)
    r = auth_client.post(
        f"/api/v1/conversations/{conv.pk}/messages",
        {"client_id": "img", "kind": "image", "payload": {"upload_id": body["id"]}},
        format="json",
    )
    assert r.status_code == 201 and r.json()["payload"]["url"] == body["url"]
    # Someone else cannot send my upload.
    bob = client_of(other_user)
    r = bob.post(
        f"/api/v1/conversations/{conv.pk}/messages",
        {"client_id": "steal", "kind": "image", "payload": {"upload_id": body["id"]}},
        format="json",
    )
    assert r.status_code == 404 and r.json()["error"]["code"] == "upload_not_found"


def test_text_pretending_to_be_an_image_is_refused(auth_client):
    r = upload(auth_client, "image", b"not an image at all", "evil.png")
    assert r.status_code == 400 and r.json()["error"]["code"] == "unsupported_image"


def test_voice_wav_and_ogg_durations(auth_client):
    r = upload(auth_client, "voice", wav(2.5), "note.wav")
    assert r.status_code == 201 and r.json()["duration_ms"] == 2500
    r = upload(auth_client, "voice", ogg_opus(5), "note.ogg")
    assert r.status_code == 201 and r.json()["duration_ms"] == 5000
    r = upload(auth_client, "voice", wav(61), "long.wav")
    assert r.status_code == 400 and r.json()["error"]["code"] == "voice_too_long"
    r = upload(auth_client, "voice", png(), "fake.wav")
    assert r.status_code == 400 and r.json()["error"]["code"] == "unsupported_audio"


def test_size_limits_and_bad_kind(auth_client, settings):
    settings.CHAT_UPLOAD_MAX_FILE_BYTES = 100
    r = upload(auth_client, "file", b"x" * 101, "big.bin")
    assert r.status_code == 400 and r.json()["error"]["code"] == "upload_too_large"
    r = upload(auth_client, "file", b"x" * 50, "small.pdf")
    assert r.status_code == 201 and r.json()["content_type"] == "application/octet-stream"
    r = upload(auth_client, "video", b"x", "v.mp4")
    assert r.status_code == 400
