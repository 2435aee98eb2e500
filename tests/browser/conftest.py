"""Browser tests: Debian's Chromium driven by Playwright against a real Plaza server.

Never downloads Playwright's own browsers: it launches /usr/bin/chromium, and when that
is missing every test here is skipped with a loud reason (`make test` tries to install it
with apt-get first, see bin/test.sh).
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from tests.load.servers import start_servers

CHROMIUM = os.environ.get("PLAZA_CHROMIUM", "/usr/bin/chromium")
SCREENS = Path(__file__).resolve().parents[2] / "var" / "screens"
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
    # A synthetic microphone, granted without a prompt, for voice messages.
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
]
PHONE_VIEWPORT = {"width": 390, "height": 780}
DESKTOP_VIEWPORT = {"width": 1280, "height": 900}

NO_BROWSER = (
    f"BROWSER TESTS SKIPPED: no Chromium at {CHROMIUM}. Install Debian's package "
    "(`apt-get install chromium`, or `make browser`); Playwright's own browser downloads "
    "are deliberately not used."
)


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser/" in str(item.fspath):
            # One xdist worker runs every browser test, so the server and browser start once.
            item.add_marker(pytest.mark.xdist_group("browser"))
            item.add_marker(pytest.mark.browser)


def pytest_report_header(config):
    if not os.path.exists(CHROMIUM):
        return "!!! " + NO_BROWSER


@pytest.fixture(scope="session")
def chromium():
    if not os.path.exists(CHROMIUM):
        pytest.skip(NO_BROWSER)
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError:  # pragma: no cover - it is a dev dependency
        pytest.skip("BROWSER TESTS SKIPPED: the playwright package is not installed")
    # The machine running the suite may be busy (two cores, several test processes):
    # wait up to 15 s for what a person would see, instead of Playwright's 5 s.
    expect.set_options(timeout=15_000)
    pw = sync_playwright().start()
    browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
    yield browser
    browser.close()
    pw.stop()


@pytest.fixture(scope="session")
def web_server(chromium):
    # DEBUG on, as `make run` has it: the login's dev banner shows the OTP code.
    servers = start_servers(1, extra_env={"DEBUG": "true"})
    yield servers
    servers.stop()


@pytest.fixture(scope="session")
def console_server(chromium, tmp_path_factory):
    """The brand console's own server: a privacy floor of 1 so one follower's read is a
    visible step in the funnel (tests/browser/test_console.py), and emails written to
    files so a test can open the invite link it received."""
    emails = tmp_path_factory.mktemp("emails")
    servers = start_servers(
        1,
        extra_env={
            "DEBUG": "true",
            "PRIVACY_MIN_AUDIENCE": "1",
            "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
            "EMAIL_FILE_PATH": str(emails),
        },
    )
    servers.emails = emails
    yield servers
    servers.stop()


CONSOLE_PASSWORD = "console demo pass 1"


@pytest.fixture(scope="session")
def console_demo(console_server):
    """A demo brand (300 followers, half in FR; a merchant) with owner/marketer/analyst."""
    import json

    out = console_server.manage(
        "console_demo", "--password", CONSOLE_PASSWORD, "--followers", "300"
    )
    return json.loads(out.strip().splitlines()[-1])


@pytest.fixture
def desk(chromium):
    """desk() → a new page in its own desktop-sized (1280 px) browser context."""
    contexts = []

    def make():
        ctx = chromium.new_context(viewport=DESKTOP_VIEWPORT)
        ctx.set_default_timeout(15000)
        contexts.append(ctx)
        page = ctx.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.errors = errors
        return page

    yield make
    for ctx in contexts:
        ctx.close()


def console_sign_in(page, server, phone: str, password: str = CONSOLE_PASSWORD) -> None:
    from playwright.sync_api import expect

    page.goto(server.url + "/console/")
    expect(page.get_by_role("heading", name="Sign in to your brand")).to_be_visible()
    page.get_by_label("Phone").fill(phone)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


@pytest.fixture(scope="session")
def screens():
    SCREENS.mkdir(parents=True, exist_ok=True)
    return Screens(SCREENS)


class Screens:
    def __init__(self, root: Path):
        self.root = root
        self.count = 0

    def shot(self, page, name: str) -> Path:
        self.count += 1
        path = self.root / f"{re.sub(r'[^a-z0-9-]+', '-', name.lower())}.png"
        page.screenshot(path=str(path))
        return path


class Person:
    """One person in their own browser context (own storage, own socket)."""

    def __init__(self, context, page, phone: str, name: str):
        self.context = context
        self.page = page
        self.phone = phone
        self.name = name
        self.user_id: int | None = None
        self.console_errors: list[str] = []


@pytest.fixture
def people(chromium, web_server):
    made: list[Person] = []

    def make(phone: str, name: str) -> Person:
        context = chromium.new_context(viewport=PHONE_VIEWPORT, device_scale_factor=1)
        context.set_default_timeout(15000)
        page = context.new_page()
        person = Person(context, page, phone, name)
        page.on(
            "console",
            lambda m: person.console_errors.append(m.text) if m.type == "error" else None,
        )
        page.on("pageerror", lambda e: person.console_errors.append(str(e)))
        made.append(person)
        return person

    yield make
    for p in made:
        p.context.close()


def sign_in(person: Person, server, *, use_dev_banner: bool, path: str = "/") -> None:
    """Log in through the UI: phone, code (from the dev banner or the SMS log), then the
    name on the profile screen a new account lands on (unless a deep link takes it
    elsewhere, in which case the name is set over the API)."""
    from playwright.sync_api import expect

    page = person.page
    page.goto(server.url + path)
    expect(page.get_by_role("heading", name="Welcome to Plaza")).to_be_visible()
    page.get_by_label("Phone number").fill(person.phone)
    page.get_by_role("button", name="Send code").click()
    if use_dev_banner:
        expect(page.locator(".debug-code")).to_have_text(re.compile(r"^\d{6}$"))
        page.get_by_role("button", name="Use it").click()
    else:
        page.get_by_label("Code").fill(server.sms_code(person.phone))
    page.get_by_role("button", name="Sign in").click()
    if path != "/":
        page.wait_for_function("() => !!localStorage.getItem('plaza.token')")
        person.user_id = page.evaluate("JSON.parse(localStorage.getItem('plaza.user')).id")
        api(server, person, "PATCH", "/me", json={"display_name": person.name})
        return
    # A new account lands on its profile to pick a name.
    expect(page.get_by_label("Name")).to_be_visible()
    page.get_by_label("Name").fill(person.name)
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".me-name")).to_have_text(person.name)
    person.user_id = page.evaluate("JSON.parse(localStorage.getItem('plaza.user')).id")


def chromium_present() -> bool:
    return os.path.exists(CHROMIUM) or bool(shutil.which("chromium"))


def token_of(person: Person) -> str:
    return person.page.evaluate("localStorage.getItem('plaza.token')")


def api(server, person: Person, method: str, path: str, **kwargs):
    """A REST call as `person` (setup steps the UI test does not need to click through)."""
    import httpx

    headers = {"Authorization": f"Bearer {token_of(person)}", **kwargs.pop("headers", {})}
    r = httpx.request(method, server.url + "/api/v1" + path, headers=headers, timeout=15, **kwargs)
    assert r.status_code < 300, (method, path, r.status_code, r.text)
    return r.json() if r.content else None


def make_contacts(server, a: Person, b: Person) -> None:
    fr = api(server, a, "POST", "/friend-requests", json={"to_user_id": b.user_id})
    api(server, b, "POST", f"/friend-requests/{fr['id']}/accept")


def fund(server, person: Person, *, amount: int, currency: str = "USD", pin: str) -> None:
    """Operator credit + payment PIN, through payments' own services (setup, not UI)."""
    server.manage(
        "shell",
        "-c",
        "from accounts.models import User;"
        "from payments.services.funding import operator_credit;"
        "from payments.services.pin import pin_set;"
        f"u = User.objects.get(pk={person.user_id});"
        f"operator_credit(user_id=u.pk, amount={amount}, currency={currency!r});"
        f"pin_set(user=u, pin={pin!r})",
    )


def open_chat_with(person: Person, other_name: str) -> None:
    from playwright.sync_api import expect

    person.page.get_by_role("link", name="Contacts").click()
    person.page.locator(".item.contact", has_text=other_name).click()
    person.page.get_by_role("button", name="Message").click()
    expect(person.page.get_by_role("heading", name=other_name)).to_be_visible()
