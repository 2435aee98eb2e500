"""EMVCo merchant-presented payloads and their CRC-16/CCITT-FALSE."""

import pytest

from payments import emvco


def test_crc_matches_the_published_check_value():
    # The catalogue check value of CRC-16/CCITT-FALSE (a.k.a. CRC-16/IBM-3740).
    assert emvco.crc16_ccitt_false(b"123456789") == 0x29B1
    assert emvco.crc16_ccitt_false(b"") == 0xFFFF


def test_crc_matches_published_payloads():
    # Brazil's central bank Pix example (ends in CRC 1D3D) and the example payload of the
    # EMVCo MPM specification (UTF-8 text inside, ends in A13A).
    pix = (
        "00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-426655440000"
        "5204000053039865802BR5913Fulano de Tal6008BRASILIA62070503***63041D3D"
    )
    assert emvco.with_crc(pix[:-8]) == pix
    spec = (
        "00020101021229300012D156000000000510A93FO3230Q31280012D156000000010308123456785204"
        "41115802CN5914BEST TRANSPORT6007BEIJING64200002ZH0104最佳运输0202北京540523.7253031"
        "565502016233030412340603***0708A60086670902ME91320016A0112233449988770708123456786304"
    )
    assert f"{emvco.crc16_ccitt_false(spec.encode()):04X}" == "A13A"


def test_plaza_payload_has_tag_26_amount_currency_and_a_valid_crc():
    payload = emvco.merchant_presented_payload(
        url="https://plaza.example/api/v1/checkout/o_abc",
        mcc="5814",
        currency="USD",
        country="us",
        name="Café Über Snacks — a very long name indeed",
        city="São Paulo de Piratininga",
        amount=1250,
        reference="T-1",
    )
    fields = emvco.parse(payload)
    assert fields["00"] == "01" and fields["01"] == "12"
    inner = fields["26"]
    assert inner.startswith("0009com.plaza01")
    assert "https://plaza.example/api/v1/checkout/o_abc" in inner
    assert fields["52"] == "5814"
    assert fields["53"] == "840"
    assert fields["54"] == "12.50"
    assert fields["58"] == "US"
    assert fields["59"] == "Cafe Uber Snacks a very l"
    assert fields["60"] == "Sao Paulo de Pi"
    assert payload.isascii()
    with pytest.raises(ValueError):
        emvco.parse(payload[:-1] + ("0" if payload[-1] != "0" else "1"))


def test_static_payload_has_no_amount_and_zero_exponent_currencies():
    static = emvco.parse(
        emvco.merchant_presented_payload(
            url="u", mcc="5999", currency="JPY", country="JP", name="A", city="Tokyo"
        )
    )
    assert static["01"] == "11" and "54" not in static and static["53"] == "392"
    assert emvco.format_amount(1500, "JPY") == "1500"
    assert emvco.format_amount(5, "USD") == "0.05"
