"""Wallet REST: balances, statement with running balance and cursors, CSV, PIN."""

import csv
import io

from accounts import sms
from accounts.services import otp_request
from payments import ledger
from tests.conftest import client_for, fund_wallet


def test_wallet_needs_a_token(api):
    assert api.get("/api/v1/wallet").status_code == 401


def test_balances_per_currency(user, auth_client):
    assert auth_client.get("/api/v1/wallet").json() == {"balances": [], "pin_set": False}
    fund_wallet(user, 500, "USD")
    fund_wallet(user, 300, "EUR")
    assert auth_client.get("/api/v1/wallet").json()["balances"] == [
        {"currency": "EUR", "balance": 300, "available": 300, "pending": 0},
        {"currency": "USD", "balance": 500, "available": 500, "pending": 0},
    ]


def test_statement_pages_newest_first_with_running_balance(user, other_user, auth_client):
    for amount in (100, 200, 300, 400, 500):
        fund_wallet(user, amount)
    mine = ledger.user_wallet(user_id=user.pk, currency="USD")
    theirs = ledger.user_wallet(user_id=other_user.pk, currency="USD")
    ledger.post_entry(kind="test.pay", postings=[(mine, -250), (theirs, 250)])
    page = auth_client.get("/api/v1/wallet/entries?limit=4").json()
    assert [(e["amount"], e["balance_after"]) for e in page["results"]] == [
        (-250, 1250),
        (500, 1500),
        (400, 1000),
        (300, 600),
    ]
    rest = auth_client.get(f"/api/v1/wallet/entries?limit=4&cursor={page['next']}").json()
    assert [(e["amount"], e["balance_after"]) for e in rest["results"]] == [(200, 300), (100, 100)]
    assert rest["next"] is None
    # The other person's statement shows only their line.
    theirs_page = client_for(other_user).get("/api/v1/wallet/entries").json()
    assert [e["amount"] for e in theirs_page["results"]] == [250]


def test_statement_filters_and_bad_params(user, auth_client):
    fund_wallet(user, 100, "USD")
    fund_wallet(user, 70, "EUR")
    eur = auth_client.get("/api/v1/wallet/entries?currency=eur").json()["results"]
    assert [(e["currency"], e["amount"]) for e in eur] == [("EUR", 70)]
    for query in (
        "cursor=%%%",
        "limit=0",
        "limit=x",
        "currency=dollars",
        "cursor=eyJiZWZvcmUiOiJ4In0",
    ):
        r = auth_client.get(f"/api/v1/wallet/entries?{query}")
        assert r.status_code == 400, query


def test_csv_export(user, auth_client):
    fund_wallet(user, 100)
    fund_wallet(user, 50)
    r = auth_client.get("/api/v1/wallet/entries.csv")
    assert r.status_code == 200 and r["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(r.streaming_content).decode())))
    assert [(x["amount"], x["balance_after"], x["kind"]) for x in rows] == [
        ("50", "150", "operator.credit"),
        ("100", "100", "operator.credit"),
    ]


def test_pin_endpoint_set_change_and_limit(user, auth_client):
    r = auth_client.post("/api/v1/wallet/pin", {"pin": "123456"}, format="json")
    assert r.status_code == 200 and r.json() == {"pin_set": True, "pin_free_limit": 0}
    r = auth_client.post("/api/v1/wallet/pin", {"pin": "654321"}, format="json")
    assert r.status_code == 422 and r.json()["error"]["code"] == "pin_change_needs_proof"
    r = auth_client.post(
        "/api/v1/wallet/pin", {"pin": "654321", "old_pin": "000000"}, format="json"
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "pin_wrong"
    assert r.json()["error"]["tries_left"] == 4
    r = auth_client.post(
        "/api/v1/wallet/pin", {"pin": "654321", "old_pin": "123456"}, format="json"
    )
    assert r.status_code == 200
    otp_request(phone=user.phone, client_ip="127.0.0.1")
    code = next(w for w in sms.outbox[-1]["text"].split() if w.rstrip(".").isdigit()).rstrip(".")
    r = auth_client.post("/api/v1/wallet/pin", {"pin": "111222", "otp_code": code}, format="json")
    assert r.status_code == 200
    r = auth_client.post("/api/v1/wallet/pin", {"pin_free_limit": 1000}, format="json")
    assert r.json() == {"pin_set": True, "pin_free_limit": 1000}
    assert auth_client.get("/api/v1/wallet").json()["pin_set"] is True
    for bad in ({}, {"pin": "12345"}, {"pin": "abcdef"}, {"pin_free_limit": -1}):
        assert auth_client.post("/api/v1/wallet/pin", bad, format="json").status_code == 400
