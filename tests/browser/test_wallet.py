"""The wallet and scan-to-pay in a browser: set a PIN, top up through the sandbox
gateway, then pay a merchant's QR order with the PIN and see the balance drop."""

from __future__ import annotations

import json
import re

from playwright.sync_api import expect

from .conftest import sign_in


def merchant_order(server, *, name: str, amount: int, description: str) -> str:
    """A merchant and one pending QR order (what a till does); returns the QR payload."""
    m = json.loads(server.manage("create_merchant", name, "--json").strip().splitlines()[-1])
    out = server.manage(
        "shell",
        "-c",
        "from payments.models import Merchant;"
        "from payments.services.orders import order_create, qr_payload;"
        f"o, _ = order_create(merchant=Merchant.objects.get(pk={m['merchant_id']}),"
        f" out_trade_no='T-1', amount={amount}, currency='USD', description={description!r});"
        "print(qr_payload(o))",
    )
    return out.strip().splitlines()[-1]


def test_top_up_then_pay_a_merchant_qr(people, web_server, screens):
    ana = people("+14155550341", "Ana Li")
    sign_in(ana, web_server, use_dev_banner=True)
    page = ana.page
    page.get_by_role("link", name="Wallet").click()
    expect(page.get_by_text("Set a payment PIN before paying")).to_be_visible()

    page.get_by_role("button", name="Set payment PIN").click()
    page.get_by_label("New PIN", exact=True).fill("135790")
    page.get_by_label("Repeat the new PIN").fill("135790")
    page.get_by_role("button", name="Save PIN").click()
    expect(page.get_by_role("button", name="Change PIN")).to_be_visible()

    page.get_by_role("button", name="Top up").click()
    page.get_by_label("Top-up amount").fill("50.00")
    page.locator("dialog").get_by_role("button", name="Top up").click()
    balance = page.locator(".balance .amount")
    expect(balance).to_have_text("$50.00")
    expect(page.locator(".entry", has_text="Top-up")).to_contain_text("+$50.00")
    screens.shot(page, "40-wallet")

    payload = merchant_order(web_server, name="Corner Cafe", amount=450, description="Flat white")
    page.get_by_role("link", name="Discover").click()
    page.get_by_role("link", name="Scan to pay").click()
    page.get_by_label("Payment link").fill(payload)
    page.get_by_role("button", name="Open").click()
    expect(page.locator(".merchant-name")).to_have_text("Corner Cafe")
    expect(page.get_by_label("Amount")).to_have_text("$4.50")
    screens.shot(page, "41-checkout")
    page.get_by_label("Payment PIN").fill("135790")
    page.get_by_role("button", name="Pay $4.50").click()
    expect(page.get_by_role("status").filter(has_text="Paid to Corner Cafe")).to_be_visible()
    screens.shot(page, "42-paid")

    page.get_by_role("navigation", name="Sections").get_by_role("link", name="Wallet").click()
    expect(balance).to_have_text("$45.50")
    expect(page.locator(".entry", has_text="Payment to a merchant")).to_contain_text("-$4.50")

    # A pay code to show at a till (customer-presented).
    page.get_by_role("button", name="Pay code").click()
    expect(page.get_by_label("Your pay code")).to_have_text(re.compile(r"^\d{4}( \d{1,4})+$"))
    expect(page.get_by_role("timer")).to_contain_text("Valid for")
