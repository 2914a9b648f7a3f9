"""The citizen portal in Chromium: subscribe on the map, confirm by the emailed link, receive the
next announcement; unsubscribe from an email's link; web push opt-in end to end; the keyboard
alone."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import pytest
from playwright.async_api import Page, expect

from notifier.dev.push_service_fake import decrypt
from tests.stage import eventually
from tests.web.site import NewPage, Site, in_language, screenshot

pytestmark = pytest.mark.browser

SAINT_VICTOR = "7510501"  # a quartier of the 5th arrondissement


def announcement(title: str, link: str = "https://www.paris.fr/travaux") -> dict[str, Any]:
    return {
        "category": "roadworks",
        "severity": "moderate",
        "target": {"areas": [SAINT_VICTOR]},
        "content": {
            "fr": {
                "title": title,
                "body": "La rue Monge est fermée du 1er au 5 décembre.",
                "link": link,
            },
            "en": {"title": f"EN {title}", "body": "Rue Monge is closed 1-5 December."},
        },
    }


async def publish(site: Site, body: dict[str, Any]) -> None:
    key = await site.department_key()
    r = await site.api.post(
        "/v1/cities/paris/announcements", json=body, headers={"Authorization": f"Bearer {key}"}
    )
    assert r.status == 202, await r.text()


async def subscribe_on_the_map(page: Page, email: str, push: bool = False) -> None:
    """What a citizen does on the portal: click the quartier, give an address, submit."""
    await page.goto("/")
    await page.locator(f"path[data-code='{SAINT_VICTOR}']").click()
    await expect(page.locator("#where-summary")).to_have_text("1 zone choisie :")
    await expect(page.locator(".selection-list")).to_contain_text("Saint-Victor (5e)")
    await page.get_by_label("Adresse e-mail").fill(email)
    if push:
        await page.get_by_label("Notifications sur cet appareil").check()
    await page.get_by_role("button", name="M'abonner").click()
    await expect(page.get_by_role("heading", name="Presque terminé")).to_be_visible()


async def confirm_by_the_emailed_link(page: Page, site: Site, email: str) -> None:
    text = await site.mail(email, r"/v1/confirm/", f"the confirmation email to {email}")
    link = re.search(r"http\S+/v1/confirm/\S+", text)
    assert link is not None and link.group(0).startswith(site.url)
    await page.goto(link.group(0))
    await page.get_by_role("button", name="Confirmer mon adresse").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Adresse confirmée")
    await expect(page.locator("main")).to_contain_text(email)


async def test_a_citizen_subscribes_by_clicking_a_quartier_confirms_and_gets_the_next_announcement(
    page: Page, site: Site, worker: Any
) -> None:
    await subscribe_on_the_map(page, "alice@example.org")
    await expect(page.locator("#done-list")).to_contain_text(
        "Ouvrez le lien envoyé à alice@example.org pour confirmer"
    )
    await screenshot(page, "portal-subscribed-fr")
    await confirm_by_the_emailed_link(page, site, "alice@example.org")

    await publish(site, announcement("Travaux rue Monge"))
    text = await site.mail("alice@example.org", "Travaux rue Monge", "the announcement")
    assert "La rue Monge est fermée du 1er au 5 décembre." in text
    assert "Saint-Victor" in text  # why she receives it


async def test_the_unsubscribe_link_of_an_email_works(page: Page, site: Site, worker: Any) -> None:
    await subscribe_on_the_map(page, "bob@example.org")
    manage = await page.locator("#manage-link").get_attribute("href")
    await confirm_by_the_emailed_link(page, site, "bob@example.org")
    await publish(site, announcement("Coupure d'eau"))
    text = await site.mail("bob@example.org", "Coupure d'eau", "the announcement")
    link = re.search(r"http\S+/v1/unsubscribe/\S+", text)
    assert link is not None

    await page.goto(link.group(0))
    await expect(page.get_by_role("heading", level=1)).to_have_text("Se désabonner")
    await screenshot(page, "unsubscribe-confirmation")
    await page.get_by_role("button", name="Me désabonner").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Désabonnement enregistré")
    # the management page says so too
    await page.goto(str(manage))
    await expect(page.locator("#contacts")).to_contain_text("bob@example.org désabonné")


PUSH_STUB = """
(() => {
  // Only the browser's push service is stubbed: subscribe() answers with the endpoint and the
  // keys the test holds, as a real PushManager would with its vendor's service.
  const sub = %s;
  const bytes = (s) => Uint8Array.from(
    atob(s.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((s.length + 3) %% 4)),
    (c) => c.charCodeAt(0)).buffer;
  let current = null;
  PushManager.prototype.subscribe = async function (options) {
    const key = new Uint8Array(options.applicationServerKey);
    window.__applicationServerKey = btoa(String.fromCharCode(...key))
      .replace(/\\+/g, "-").replace(/\\//g, "_").replace(/=+$/, "");
    current = {
      endpoint: sub.endpoint, expirationTime: null, options,
      getKey: (name) => bytes(sub.keys[name]),
      toJSON: () => ({ endpoint: sub.endpoint, expirationTime: null, keys: sub.keys }),
      unsubscribe: async () => { current = null; return true; },
    };
    return current;
  };
  PushManager.prototype.getSubscription = async function () { return current; };
})();
"""


async def test_web_push_opt_in_registers_the_browser_and_it_gets_what_the_service_sent(
    new_page: NewPage, site: Site, worker: Any
) -> None:
    r = await site.api.get("/v1/push/public-key")
    server_key = (await r.json())["public_key"]
    subscription, private_key = site.push.subscribe(site.push_url, server_key=server_key)
    keys = {"p256dh": subscription.p256dh, "auth": subscription.auth}
    stub = PUSH_STUB % json.dumps({"endpoint": subscription.endpoint, "keys": keys})
    page = await new_page(init_script=stub)

    await subscribe_on_the_map(page, "carol@example.org", push=True)
    await expect(page.locator("#done-list")).to_contain_text(
        "Notifications activées sur cet appareil."
    )
    assert await page.evaluate("window.__applicationServerKey") == server_key
    manage = await page.locator("#manage-link").get_attribute("href")
    await page.goto(str(manage))
    push_host = subscription.endpoint.split("/")[2]
    await expect(page.locator("#contacts")).to_contain_text(
        f"Notifications du navigateur : {push_host} confirmé"
    )

    # the email is not confirmed, the browser is: the announcement comes by push
    await publish(site, announcement("Fermeture du square", link="https://www.paris.fr/square"))
    token = subscription.endpoint.rsplit("/", 1)[1]
    [received] = await eventually(lambda: site.push.to(token), what="the push message")
    auth_secret = base64.urlsafe_b64decode(subscription.auth + "==")
    payload = json.loads(decrypt(received.body, private_key, auth_secret))
    assert payload["title"] == "Fermeture du square"
    assert payload["url"] == "https://www.paris.fr/square"
    assert payload["body"].startswith("La rue Monge est fermée")

    # what the push service would hand to the browser reaches the service worker: it shows it
    cdp = await page.context.new_cdp_session(page)
    registrations: list[dict[str, Any]] = []
    cdp.on(
        "ServiceWorker.workerRegistrationUpdated",
        lambda e: registrations.extend(e["registrations"]),
    )
    await cdp.send("ServiceWorker.enable")
    registration = await eventually(
        lambda: [x for x in registrations if x["scopeURL"] == f"{site.url}/"],
        what="the service worker's registration",
    )
    assert payload["tag"]  # one notification per event: delivering it again replaces it
    await page.evaluate("navigator.serviceWorker.ready.then(() => true)")  # active

    async def shown() -> list[dict[str, str]]:
        # a push delivered while the worker was still starting can be dropped: again until shown
        await cdp.send(
            "ServiceWorker.deliverPushMessage",
            {
                "origin": site.url,
                "registrationId": registration[0]["registrationId"],
                "data": json.dumps(payload),
            },
        )
        return list(
            await page.evaluate(
                """navigator.serviceWorker.ready.then((r) => r.getNotifications()).then(
                     (ns) => ns.map((n) => ({title: n.title, body: n.body, url: n.data.url})))"""
            )
        )

    [notification] = await eventually(shown, what="the notification the service worker shows")
    assert notification == {
        "title": "Fermeture du square",
        "body": payload["body"],
        "url": "https://www.paris.fr/square",
    }


async def focused(page: Page) -> str:
    """What has the focus: an id, or the area code of a map area."""
    return str(
        await page.evaluate(
            """(() => { const e = document.activeElement;
                 return e.dataset.code ? `area:${e.dataset.code}` : (e.id || e.tagName); })()"""
        )
    )


async def tab_to(page: Page, target: str) -> None:
    for _ in range(60):
        await page.keyboard.press("Tab")
        if await focused(page) == target:
            return
    raise AssertionError(f"Tab never reached {target}")


async def test_the_keyboard_alone_reaches_every_control_and_selects_an_area(
    page: Page, site: Site
) -> None:
    await page.goto("/")
    await in_language(page, "en")
    await page.locator("body").focus()
    reached: list[str] = []
    for _ in range(80):  # once round the page
        await page.keyboard.press("Tab")
        now = await focused(page)
        if reached and now == reached[0]:
            break
        reached.append(now)
    expected = {
        "where-mode-areas",
        "where-level-quartier",
        "min-severity",
        "channel-email",
        "channel-sms",
        "channel-push",
        "email",
        "phone",
        "language",
        "quiet",
        "submit",
        "magic-address",
        *(f"category-{c}" for c in ("roadworks", "water", "general")),
    }
    assert expected <= set(reached), expected - set(reached)
    assert sum(r.startswith("area:") for r in reached) == 1  # the map is one tab stop

    # on the map: type the start of a name, Enter selects it
    await page.locator("path[tabindex='0']").focus()
    await page.keyboard.type("saint-vic")
    assert await focused(page) == f"area:{SAINT_VICTOR}"
    await page.keyboard.press("Enter")
    await expect(page.locator(f"path[data-code='{SAINT_VICTOR}']")).to_have_attribute(
        "aria-selected", "true"
    )
    await expect(page.locator(".selection-list")).to_contain_text("Saint-Victor (5th)")
    # arrows move between areas; Space selects another
    await page.keyboard.press("ArrowRight")
    await page.keyboard.press("Space")
    await expect(page.locator("#where-summary")).to_have_text("2 areas chosen:")

    # then the form, still by keyboard, to the end
    await tab_to(page, "email")
    await page.keyboard.type("dora@example.org")
    await tab_to(page, "submit")
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", name="Almost done")).to_be_visible()
    await expect(page.locator("#done-list")).to_contain_text("2 subscriptions saved.")


async def test_a_wrong_input_is_named_on_the_page(page: Page, site: Site) -> None:
    await page.goto("/")
    await page.get_by_role("button", name="M'abonner").click()
    await expect(page.get_by_role("alert").get_by_role("listitem")).to_have_text(
        [
            "Choisissez au moins un quartier ou un arrondissement sur la carte.",
            "Donnez une adresse e-mail ou un numéro de téléphone.",
        ]
    )
    await page.locator(f"path[data-code='{SAINT_VICTOR}']").click()
    await page.get_by_label("Adresse e-mail").fill("not an address")
    await page.get_by_role("button", name="M'abonner").click()
    await expect(page.get_by_role("alert")).to_contain_text(
        "Saisissez une adresse e-mail au bon format"
    )
    await expect(page.get_by_label("Adresse e-mail")).to_have_attribute("aria-invalid", "true")
