"""The web pages signing in, in Chromium against `make run` with AUTH_MODE=required: through the
local test issuer (authorization code with PKCE), or with a pasted API key; and, under
AUTH_MODE=none, no sign-in at all."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from shared.auth.api_keys import ApiKey
from shared.settings import Settings
from tests.e2e.conftest import running_embedded
from tests.support.auth import bearer, issue_key
from tests.support.browser import BROWSER_TIMEZONE, item, open_page
from tests.support.chromium import watched_page
from tests.support.oidc_issuer import AUDIENCE, LocalIssuer, issuer_in_thread
from tests.support.processes import EmbeddedStack

# without Playwright, chromium() reports it: a failure in CI, a skip elsewhere
with contextlib.suppress(ImportError):
    from playwright.sync_api import Browser, Page, Request, Route, expect

REFUSED = "Your sign-in was refused or has expired. Sign in again."
CREDENTIAL = "taskoverflow.credential"


@pytest.fixture(scope="module")
def issuer() -> Iterator[LocalIssuer]:
    with issuer_in_thread() as running:
        yield running


@pytest.fixture(scope="module")
def signing_in(
    tmp_path_factory: pytest.TempPathFactory, issuer: LocalIssuer
) -> Iterator[tuple[EmbeddedStack, ApiKey, ApiKey]]:
    """`python -m embedded` trusting the issuer, with a member's and an operator's key of the
    tenant the issuer's test user is in."""
    oidc = {
        "AUTH_MODE": "required",
        "OIDC_ISSUER": issuer.url,
        "OIDC_AUDIENCE": AUDIENCE,
        "OIDC_CLIENT_ID": issuer.client_id,
    }
    with running_embedded(tmp_path_factory, **oidc) as stack:
        todo_api = Settings(var_dir=stack.var_dir).with_embedded_database("todo_api")
        # Playwright's sync API may own this thread's event loop already
        with ThreadPoolExecutor(max_workers=1) as thread:
            member = thread.submit(asyncio.run, issue_key(todo_api)).result()
            operator = thread.submit(
                asyncio.run, issue_key(todo_api, roles=["member", "operator"])
            ).result()
        yield stack, member, operator


@pytest.fixture
def signed_out_page(
    browser: Browser, signing_in: tuple[EmbeddedStack, ApiKey, ApiKey], issuer: LocalIssuer
) -> Iterator[Page]:
    """A fresh context, nothing in its storage; it may call the issuer besides the stack."""
    base_url = signing_in[0].url
    context = browser.new_context(base_url=base_url, timezone_id=BROWSER_TIMEZONE)
    with watched_page(context, base_url, also=(issuer.url,)) as opened:
        yield opened


def existing_todo(page: Page, credential: object) -> str:
    """A todo of the test user's tenant, made through the API; its title."""
    title = f"Signed in {uuid.uuid4().hex[:8]}"
    made = page.request.post("/api/v1/todos", data={"title": title}, headers=bearer(credential))
    assert made.status == 201, made.text()
    return title


def expect_sign_in_panel(page: Page, message: str = "") -> None:
    expect(page.get_by_label("API key")).to_be_visible()
    expect(page.locator("#sign-in-message")).to_have_text(message)
    expect(page.locator("main")).to_be_hidden()


def sign_in_with_key(page: Page, key: object) -> None:
    field = page.get_by_label("API key")
    expect(field).to_have_attribute("type", "password")
    field.fill(str(key))
    page.get_by_role("button", name="Use this key").click()


def stored(page: Page, storage: str) -> str:
    """A Web Storage area of the page, as JSON."""
    return str(page.evaluate(f"JSON.stringify(Object.entries({storage}))"))


def authorizations(page: Page) -> list[str | None]:
    """The Authorization header of every call the page makes to the todos, from now on."""
    seen: list[str | None] = []

    def note(request: Request) -> None:
        if "/api/v1/todos" in request.url:
            seen.append(request.headers.get("authorization"))

    page.on("request", note)
    return seen


def forge_state(route: Route) -> None:
    back = urlsplit(route.fetch(max_redirects=0).headers["location"])
    query = parse_qs(back.query) | {"state": ["forged"]}
    forged = back._replace(query=urlencode(query, doseq=True)).geturl()
    route.fulfill(status=302, headers={"Location": forged})


class TestOidc:
    def test_signs_in_at_the_issuer_sees_the_users_todos_and_signs_out(
        self, signed_out_page: Page, issuer: LocalIssuer
    ) -> None:
        page = signed_out_page
        title = existing_todo(page, issuer.token())
        console: list[str] = []
        page.on("console", lambda message: console.append(message.text))
        sent = authorizations(page)

        page.goto("/")
        expect_sign_in_panel(page)
        page.get_by_role("button", name="Sign in", exact=True).click()

        expect(item(page, title)).to_be_visible()
        assert urlsplit(page.url).query == ""
        token = page.evaluate(f"sessionStorage.getItem({CREDENTIAL!r})")
        assert token.count(".") == 2
        assert sent, "the page called no todo route"
        assert set(sent) == {f"Bearer {token}"}
        assert stored(page, "localStorage") == "[]"
        assert not [text for text in console if token in text]

        page.get_by_role("button", name="Sign out").click()

        expect_sign_in_panel(page)
        assert stored(page, "sessionStorage") == "[]"

    def test_a_sign_in_whose_state_does_not_match_is_refused(
        self, signed_out_page: Page, issuer: LocalIssuer
    ) -> None:
        page = signed_out_page
        page.goto("/")
        expect_sign_in_panel(page)
        # a good code, sent back with a state this tab never made (a forged redirect)
        page.route(f"{issuer.url}/authorize?**", forge_state)

        page.get_by_role("button", name="Sign in", exact=True).click()

        expect_sign_in_panel(page, "The sign-in did not complete. Try again.")
        assert urlsplit(page.url).query == ""
        assert stored(page, "sessionStorage") == "[]"


class TestApiKey:
    def test_a_pasted_key_shows_the_tenants_todos_and_goes_on_every_call(
        self, signed_out_page: Page, signing_in: tuple[EmbeddedStack, ApiKey, ApiKey]
    ) -> None:
        page, member = signed_out_page, signing_in[1]
        title = existing_todo(page, member)
        sent = authorizations(page)

        page.goto("/")
        expect_sign_in_panel(page)
        sign_in_with_key(page, member)

        expect(item(page, title)).to_be_visible()
        assert sent, "the page called no todo route"
        assert set(sent) == {f"Bearer {member}"}
        assert stored(page, "localStorage") == "[]"

    def test_a_wrong_key_shows_the_panel_again_with_the_message(
        self, signed_out_page: Page
    ) -> None:
        page = signed_out_page
        page.goto("/")
        expect_sign_in_panel(page)

        sign_in_with_key(page, "tok_nosuchkey_nosuchsecret")

        expect_sign_in_panel(page, REFUSED)
        assert stored(page, "sessionStorage") == "[]"

    def test_the_operations_page_signs_an_operator_in(
        self, signed_out_page: Page, signing_in: tuple[EmbeddedStack, ApiKey, ApiKey]
    ) -> None:
        page, operator = signed_out_page, signing_in[2]
        page.goto("/ops")
        expect_sign_in_panel(page)

        sign_in_with_key(page, operator)

        expect(page.locator("#updated")).to_contain_text("Updated")
        expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def test_without_credentials_required_the_page_shows_no_sign_in(page: Page) -> None:
    open_page(page)

    expect(page.locator("#sign-in")).to_be_hidden()
    expect(page.get_by_role("button", name="Sign out")).to_be_hidden()
    expect(page.get_by_role("heading", name="Todos")).to_be_visible()


class TestDownloads:
    def test_a_signed_in_page_downloads_its_calendar_with_its_credential(
        self, signed_out_page: Page, signing_in: tuple[EmbeddedStack, ApiKey, ApiKey]
    ) -> None:
        page, member = signed_out_page, signing_in[1]
        title = existing_todo(page, member)
        page.goto("/")
        sign_in_with_key(page, member)
        expect(item(page, title)).to_be_visible()
        sent = authorizations(page)

        page.get_by_role("button", name="Generate calendar").click()
        link = page.locator("#calendar-link")
        expect(link).to_be_visible(timeout=30_000)
        with page.expect_download() as downloading:
            link.click()
        saved = downloading.value.path().read_text()

        assert "BEGIN:VCALENDAR" in saved
        assert f"SUMMARY:{title}" in saved
        assert set(sent) == {f"Bearer {member}"}
