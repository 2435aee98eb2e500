"""EMVCo merchant-presented QR payloads (EMV QRCPS-MPM) and their CRC.

A payload is a run of TLV fields: a two-digit tag, a two-digit length and the value.
Plaza puts its own merchant account information under template tag 26 (sub-tag 00 is
the globally unique identifier `com.plaza`, sub-tag 01 the checkout URL). The last field
is tag 63, a CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no final XOR)
over every byte before it *including* the tag and length "6304", written as four upper
case hex digits. Lengths count characters; values are ASCII here (names are stripped to
ASCII so that characters and bytes agree).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

PLAZA_GUID = "com.plaza"

# ISO 4217: alpha code -> (numeric code, minor-unit exponent).
CURRENCIES: dict[str, tuple[str, int]] = {
    "AUD": ("036", 2),
    "BRL": ("986", 2),
    "CAD": ("124", 2),
    "CHF": ("756", 2),
    "CNY": ("156", 2),
    "EUR": ("978", 2),
    "GBP": ("826", 2),
    "HKD": ("344", 2),
    "IDR": ("360", 2),
    "INR": ("356", 2),
    "JPY": ("392", 0),
    "KRW": ("410", 0),
    "MXN": ("484", 2),
    "MYR": ("458", 2),
    "PHP": ("608", 2),
    "SGD": ("702", 2),
    "THB": ("764", 2),
    "TWD": ("901", 2),
    "USD": ("840", 2),
    "VND": ("704", 0),
}


def crc16_ccitt_false(data: bytes) -> int:
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
    return crc


def tlv(tag: str, value: str) -> str:
    if len(tag) != 2 or not tag.isdigit():
        raise ValueError(f"bad tag {tag!r}")
    if len(value) > 99:
        raise ValueError(f"value of tag {tag} is longer than 99 characters")
    return f"{tag}{len(value):02d}{value}"


def _ascii(text: str, limit: int) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    cleaned = " ".join("".join(ch for ch in folded if 32 <= ord(ch) < 127).split())
    return (cleaned or "Plaza merchant")[:limit].rstrip()


def format_amount(amount: int, currency: str) -> str:
    """Minor units -> the decimal string EMVCo wants ("1250" USD -> "12.50")."""
    _numeric, exponent = CURRENCIES[currency]
    if exponent == 0:
        return str(amount)
    whole, frac = divmod(amount, 10**exponent)
    return f"{whole}.{frac:0{exponent}d}"


def with_crc(body: str) -> str:
    head = body + "6304"
    return head + f"{crc16_ccitt_false(head.encode('ascii')):04X}"


def merchant_presented_payload(
    *,
    url: str,
    mcc: str,
    currency: str,
    country: str,
    name: str,
    city: str,
    amount: int | None = None,
    reference: str = "",
) -> str:
    """A dynamic payload (point of initiation 12) when `amount` is given, else static (11)."""
    numeric, _ = CURRENCIES[currency]
    parts = [
        tlv("00", "01"),
        tlv("01", "12" if amount is not None else "11"),
        tlv("26", tlv("00", PLAZA_GUID) + tlv("01", url)),
        tlv("52", mcc),
        tlv("53", numeric),
    ]
    if amount is not None:
        parts.append(tlv("54", format_amount(amount, currency)))
    parts += [
        tlv("58", country.upper()),
        tlv("59", _ascii(name, 25)),
        tlv("60", _ascii(city, 15)),
    ]
    if reference:
        parts.append(tlv("62", tlv("05", _ascii(reference, 25))))
    return with_crc("".join(parts))


@dataclass
class Field:
    tag: str
    value: str


def parse(payload: str) -> dict[str, str]:
    """Split a payload into {tag: value}; raises ValueError on a bad CRC or framing."""
    if len(payload) < 8 or payload[-8:-4] != "6304":
        raise ValueError("no CRC field at the end")
    if with_crc(payload[:-8]) != payload:
        raise ValueError("CRC mismatch")
    fields: dict[str, str] = {}
    i = 0
    while i < len(payload):
        tag, length = payload[i : i + 2], payload[i + 2 : i + 4]
        if not (tag.isdigit() and length.isdigit()):
            raise ValueError(f"bad TLV header at {i}")
        n = int(length)
        fields[tag] = payload[i + 4 : i + 4 + n]
        i += 4 + n
    return fields
