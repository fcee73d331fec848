"""The web console in a real headless Chromium (Debian's chromium + chromium-driver,
driven by Selenium): sign in, a ticket arriving live after an alert is posted to
ingest, resolving it with a conclusion and seeing the history entry, a viewer without
the actions (and the API refusing the call from the page), an XSS test on every page
an alert's text reaches, and the screenshots of the README (build/screenshots/)."""
import json
import os
import shutil
import subprocess
import uuid

import pytest
from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.service import Service as ChromeService
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

from console_harness import (ROOT, add_user, alertmanager_alert, start_console, stop_console, unique,
                             wait_ticket_titled)
from hutch_e2e import BIN_DIR, scaled, wait_for

SHOTS = os.path.join(ROOT, "build", "screenshots")
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


@pytest.fixture(scope="module")
def console(stack):
    svc = start_console(stack, name="console-browser")
    yield svc
    stop_console(svc)


@pytest.fixture(scope="module")
def accounts(stack):
    pw = {"analyst": "browser-analyst-pw", "viewer": "browser-viewer-pw"}
    for role, p in pw.items():
        add_user(stack, f"web-{role}", role, p)
    return pw


@pytest.fixture
def browser():
    assert os.access(CHROMEDRIVER, os.X_OK), "chromium-driver is missing: `make deps` installs it"
    opts = webdriver.ChromeOptions()
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900",
              "--lang=en-US"):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    d = webdriver.Chrome(service=ChromeService(CHROMEDRIVER), options=opts)
    d.set_page_load_timeout(scaled(30))
    yield d
    d.quit()


def wait(d, seconds=20):
    return WebDriverWait(d, scaled(seconds))


def on_page(d, step):
    """step(d) on a page that live updates redraw: an element found just before a redraw
    is stale, so the step runs again on the new one (the page keeps typed values)."""
    return WebDriverWait(d, scaled(20), ignored_exceptions=[StaleElementReferenceException]).until(
        lambda d: step(d) or True)


def type_once(d, element_id, text):
    """Makes an empty field hold text, typing what it does not hold yet: a redraw in the
    middle of the typing leaves the part typed (the page keeps it)."""
    def step(d):
        el = d.find_element(By.ID, element_id)
        have = el.get_attribute("value")
        assert text.startswith(have), (have, text)
        if have != text:
            el.send_keys(text[len(have):])
        return d.find_element(By.ID, element_id).get_attribute("value") == text
    WebDriverWait(d, scaled(20), ignored_exceptions=[StaleElementReferenceException]).until(step)


def sign_in(d, url, name, password):
    d.get(url + "/")
    wait(d).until(EC.presence_of_element_located((By.ID, "login-name"))).send_keys(name)
    d.find_element(By.ID, "login-password").send_keys(password)
    d.find_element(By.ID, "login-submit").click()
    wait(d).until(EC.presence_of_element_located((By.ID, "open-count")))


def shot(d, name, full=False):
    """A PNG of the window (full: of the whole page, the window stretched to it)."""
    os.makedirs(SHOTS, exist_ok=True)
    path = os.path.join(SHOTS, name)
    if full:
        height = d.execute_script("return document.documentElement.scrollHeight")
        d.set_window_size(1280, min(max(900, height + 120), 4000))
    d.save_screenshot(path)
    if full:
        d.set_window_size(1280, 900)
    assert os.path.getsize(path) > 10000
    return path


def test_sign_in_live_ticket_resolve_and_history(stack, console, accounts, browser):
    d = browser
    d.get(console.url + "/tickets")
    wait(d).until(EC.presence_of_element_located((By.ID, "login-name")))  # the session is needed first
    sign_in(d, console.url, "web-analyst", accounts["analyst"])
    assert d.find_element(By.ID, "who").text == "web-analyst (analyst)"
    tag = unique("browser")
    # the dashboard, with at least one ticket on it
    stack.post_until_accepted("alertmanager", alertmanager_alert(f"Dashboard seed {tag}", "disk almost full",
                                                                 labels={"instance": "db-1:9100"}))
    wait_ticket_titled(stack, f"Dashboard seed {tag}")
    d.get(console.url + "/")
    wait(d).until(EC.presence_of_element_located((By.CSS_SELECTOR, ".chart rect")))
    shot(d, "console-dashboard.png")

    # the ticket list, then an alert arrives: its ticket shows up without a reload
    d.find_element(By.CSS_SELECTOR, "nav a[href='/tickets']").click()
    wait(d).until(EC.presence_of_element_located((By.ID, "tickets")))
    d.execute_script("window.__same_page = 'yes'")
    title = f"LiveArrival {tag}: login failures on bastion"
    stack.post_until_accepted("alertmanager", alertmanager_alert(f"LiveArrival {tag}", "login failures on bastion",
                                                                 labels={"host": "bastion-1"}))
    link = wait(d, 60).until(EC.presence_of_element_located((By.XPATH, f"//table[@id='tickets']//a[text()='{title}']")))
    assert d.execute_script("return window.__same_page") == "yes"  # pushed by the stream, not a reload

    # the ticket page; resolve it with a conclusion
    link.click()
    wait(d).until(EC.presence_of_element_located((By.ID, "alerts")))
    assert d.find_element(By.TAG_NAME, "h1").text == title
    shot(d, "console-ticket.png")
    on_page(d, lambda d: Select(d.find_element(By.ID, "resolve-conclusion")).select_by_value("false_positive"))
    type_once(d, "resolve-reason", "a pen test, announced")
    on_page(d, lambda d: d.find_element(By.CSS_SELECTOR, "#resolve-form button[type=submit]").click())
    # every ticket event redraws the page: a row read during a redraw is stale, and read again
    resolved_row = "//table[@id='history']//tr[td[text()='user:web-analyst'] and td[text()='resolved']]"
    WebDriverWait(d, scaled(30), ignored_exceptions=[StaleElementReferenceException, NoSuchElementException]).until(
        lambda d: "false_positive" in d.find_element(By.XPATH, resolved_row).text
        and "a pen test, announced" in d.find_element(By.XPATH, resolved_row).text)
    assert d.find_elements(By.ID, "reopen-form")
    assert stack.pg.scalar("SELECT conclusion FROM tickets WHERE title = %s", (title,)) == "false_positive"
    shot(d, "console-ticket-resolved.png", full=True)


def test_typing_survives_a_live_update(stack, console, accounts, browser):
    """A ticket event redraws the ticket page; what the analyst was typing into the
    resolve form stays, focus and caret included, and then resolves the ticket."""
    d = browser
    d.get(console.url + "/tickets")
    if d.find_elements(By.ID, "login-name"):
        sign_in(d, console.url, "web-analyst", accounts["analyst"])
    tag = unique("typing")
    stack.post_until_accepted("alertmanager", alertmanager_alert(f"Typing {tag}", "a half-written reason"))
    tid = wait_ticket_titled(stack, f"Typing {tag}")
    d.get(console.url + "/tickets/" + tid)
    wait(d).until(EC.presence_of_element_located((By.ID, "resolve-reason")))
    on_page(d, lambda d: Select(d.find_element(By.ID, "resolve-conclusion")).select_by_value("intended"))
    type_once(d, "resolve-reason", "half of a long explanation")
    # someone else changes the ticket: its event redraws this page
    env = dict(os.environ, HUTCH_DATABASE_URL=stack.pg.url)
    r = subprocess.run([os.path.join(BIN_DIR, "hutchctl"), "ticket", "assign", tid, "someone-else"], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    wait(d, scaled(30)).until(EC.text_to_be_present_in_element((By.XPATH, "//table[@id='history']"), "someone-else"))
    kept = on_page(d, lambda d: (d.find_element(By.ID, "resolve-reason").get_attribute("value"),
                                 Select(d.find_element(By.ID, "resolve-conclusion")).first_selected_option
                                 .get_attribute("value"), d.switch_to.active_element.get_attribute("id")))
    assert kept == ("half of a long explanation", "intended", "resolve-reason")
    # the caret is at the end, where it was
    type_once(d, "resolve-reason", "half of a long explanation, and the rest")
    on_page(d, lambda d: d.find_element(By.CSS_SELECTOR, "#resolve-form button[type=submit]").click())
    wait_for(lambda: stack.pg.scalar("SELECT status || ' ' || conclusion || ' ' || reason FROM tickets"
                                     " WHERE ticket_id = %s", (tid,))
             == "resolved intended half of a long explanation, and the rest", scaled(30), 0.3, "the resolution")


def test_viewer_has_no_actions_and_the_api_refuses(stack, console, accounts, browser):
    d = browser
    tag = unique("viewer")
    stack.post_until_accepted("alertmanager", alertmanager_alert(f"ViewerCase {tag}"))
    ticket = wait_ticket_titled(stack, tag)
    sign_in(d, console.url, "web-viewer", accounts["viewer"])
    d.get(f"{console.url}/tickets/{ticket}")
    wait(d).until(EC.presence_of_element_located((By.ID, "alerts")))
    assert not d.find_elements(By.ID, "resolve-form")
    assert not d.find_elements(By.ID, "unmerge")
    # One read of every heading: a live update may redraw the page between two WebDriver calls.
    headings = d.execute_script("return [...document.querySelectorAll('h2')].map(h => h.textContent)")
    assert "Actions" not in headings
    # the same call the resolve button makes, from the viewer's page, with its CSRF token
    status = d.execute_async_script("""
        const done = arguments[arguments.length - 1];
        fetch('/api/me').then(r => r.json()).then(me => fetch('/api/tickets/' + arguments[0] + '/resolve', {
            method: 'POST', headers: {'Content-Type': 'application/json', 'X-CSRF-Token': me.csrf},
            body: JSON.stringify({conclusion: 'false_positive', reason: 'viewer'})}))
          .then(r => r.json().then(j => done([r.status, j.error])));""", ticket)
    assert status == [403, "viewers cannot change anything"]
    assert stack.pg.scalar("SELECT status FROM tickets WHERE ticket_id = %s", (ticket,)) == "open"


XSS_MARKERS = ("<script>window.__xss=1</script>", "<img src=x onerror=\"window.__xss=2\">")


def test_alert_text_renders_as_text_everywhere(stack, console, accounts, browser):
    d = browser
    tag = unique("xss")
    alert = alertmanager_alert(
        f"<script>window.__xss=1</script>Xss{tag}",
        "<img src=x onerror=\"window.__xss=2\"><b>bold</b>",
        labels={"note": "<a href=\"javascript:window.__xss=3\">click</a>", "html": "<iframe src=\"javascript:1\">"},
        annotations={"description": "<svg onload=\"window.__xss=4\"></svg>"},
        generator_url="javascript:window.__xss=5")
    stack.post_until_accepted("alertmanager", alert)
    ticket = wait_ticket_titled(stack, f"Xss{tag}")
    alert_id = stack.pg.scalar("SELECT alert_id::text FROM alerts WHERE ticket_id = %s", (ticket,))
    sign_in(d, console.url, "web-analyst", accounts["analyst"])
    pages = [(f"/tickets?q=Xss{tag}", "tickets"), (f"/tickets/{ticket}", "alerts"), (f"/alerts/{alert_id}", "payload"),
             ("/events?schema=alertmanager", "events")]
    for path, element in pages:
        d.get(console.url + path)
        wait(d).until(EC.presence_of_element_located((By.ID, element)))
        main = d.find_element(By.ID, "main")
        text = main.text
        assert "<script>window.__xss=1</script>" in text or path.startswith("/events"), path
        assert d.execute_script("return window.__xss") is None, path
        # nothing of the alert became markup: no script, img, iframe, svg, b in the page body
        for tag_name in ("script", "img", "iframe", "svg", "b"):
            assert not main.find_elements(By.TAG_NAME, tag_name), (path, tag_name)
        hrefs = [a.get_attribute("href") or "" for a in d.find_elements(By.CSS_SELECTOR, "a[href]")]
        assert not [h for h in hrefs if h.lower().startswith("javascript:")], (path, hrefs)
    # the ticket page shows the title and the attribute's HTML as the literal text
    d.get(f"{console.url}/tickets/{ticket}")
    wait(d).until(EC.presence_of_element_located((By.ID, "alerts")))
    body = d.find_element(By.ID, "alerts").text
    assert "<a href=\"javascript:window.__xss=3\">click</a>" in body
    assert "<iframe src=\"javascript:1\">" in body
    assert d.execute_script("return window.__xss") is None


def test_playground_decides_in_the_page(console, accounts, browser):
    d = browser
    sign_in(d, console.url, "web-analyst", accounts["analyst"])
    d.get(console.url + "/playground")
    box = wait(d).until(EC.presence_of_element_located((By.ID, "pg-event")))
    schema = d.find_element(By.ID, "pg-schema")
    schema.clear()
    schema.send_keys("alertmanager")
    box.clear()
    event = alertmanager_alert("HighErrorRate", "5xx above 5% on checkout", labels={"service": "checkout"})
    d.execute_script("arguments[0].value = arguments[1]", box, json.dumps(event, indent=2))
    d.find_element(By.ID, "pg-decide").click()
    status = wait(d).until(EC.presence_of_element_located((By.ID, "pg-status")))
    assert status.text == "accepted"
    assert "HighErrorRate: 5xx above 5% on checkout" in d.find_element(By.ID, "pg-result").text
    shot(d, "console-playground.png")
    # a bad paste is a message, not a crash
    d.execute_script("arguments[0].value = '{not json'", box)
    d.find_element(By.ID, "pg-decide").click()
    err = wait(d).until(EC.presence_of_element_located((By.CSS_SELECTOR, "#pg-result .error")))
    assert "not valid JSON" in err.text


def test_keyboard_only_sign_in(console, accounts, browser):
    """Sign in and reach the tickets with the keyboard alone."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys
    d = browser
    d.get(console.url + "/")
    wait(d).until(EC.presence_of_element_located((By.ID, "login-name")))
    assert d.switch_to.active_element.get_attribute("id") == "login-name"  # focused on load
    ActionChains(d).send_keys("web-viewer", Keys.TAB, accounts["viewer"], Keys.ENTER).perform()
    wait(d).until(EC.presence_of_element_located((By.ID, "open-count")))
    # Tab from the top reaches the skip link first, then the navigation
    d.find_element(By.TAG_NAME, "body").click()
    d.execute_script("document.activeElement.blur()")
    ActionChains(d).send_keys(Keys.TAB).perform()
    assert d.switch_to.active_element.get_attribute("class") == "skip"
    for _ in range(3):
        ActionChains(d).send_keys(Keys.TAB).perform()
    assert d.switch_to.active_element.get_attribute("href").endswith("/tickets")
    ActionChains(d).send_keys(Keys.ENTER).perform()
    wait(d).until(EC.presence_of_element_located((By.ID, "tickets")))


def test_dark_theme_follows_the_system_and_a_phone_fits(console, accounts, browser):
    d = browser
    sign_in(d, console.url, "web-viewer", accounts["viewer"])
    d.get(console.url + "/tickets")
    wait(d).until(EC.presence_of_element_located((By.ID, "tickets")))

    def background():
        return d.execute_script("return getComputedStyle(document.body).backgroundColor")
    d.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": "light"}]})
    assert background() == "rgb(255, 255, 255)"
    d.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": "dark"}]})
    assert background() == "rgb(17, 20, 24)"
    shot(d, "console-tickets-dark.png")
    d.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})
    # a phone: the page itself never scrolls sideways (wide tables scroll in their box)
    d.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {"width": 390, "height": 844, "deviceScaleFactor": 2,
                                                              "mobile": True})
    for path, element in (("/tickets", "tickets"), ("/", "open-count"), ("/playground", "pg-event")):
        d.get(console.url + path)
        wait(d).until(EC.presence_of_element_located((By.ID, element)))
        overflow = d.execute_script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, (path, overflow)
    shot(d, "console-phone.png")
    d.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
