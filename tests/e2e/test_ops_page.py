"""The operations page in a real browser (headless Chromium, driven by
selenium), and its admin routes over HTTP, against the Procfile's
processes: commands flow, a dead letter whose cause is gone waits, the
page shows every panel, and Retry has a worker apply the letter again."""

from __future__ import annotations

import shutil
import time
import uuid

import pytest
from pymongo import MongoClient

from infra.deadletters import DeadLetters
from workers.replay import REBUILD

ADMIN, READER = "ops-admin-token", "ops-read-token"
# Tokens, so that the routes' scopes hold; a catch-up pass every second,
# so that the lag is measured soon.
STACK_ENV = {"API_TOKENS": f"{ADMIN}:admin {READER}:read", "CATCH_UP_INTERVAL": "1"}
AS_ADMIN = {"Authorization": f"Bearer {ADMIN}"}
PANELS = ("queues", "outcomes", "lag", "dead-letters", "rebuilds")


def accepted(stack, path: str, body: dict) -> dict:
    answer = stack.post(path, json=body, headers=AS_ADMIN)
    assert answer.status_code == 202, answer.text
    return answer.json()


def finished(stack, command_id: str, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = stack.get(f"/commands/{command_id}", headers=AS_ADMIN).json()
        if status["status"] != "accepted":
            return status
        time.sleep(0.1)
    raise AssertionError(f"command {command_id} still accepted\n{stack.tail()}")


def some_commands(stack, products: int = 3) -> list[str]:
    """Products created, an order placed and one rejected (too many)."""
    made = []
    for i in range(products):
        body = {"sku": f"OPS-{i}-{uuid.uuid4().hex[:8]}", "name": "Lamp", "price_cents": 1900, "stock": 5}
        body["currency"] = "EUR"
        made.append(accepted(stack, "/products", body))
    for command in made:
        assert finished(stack, command["command_id"])["status"] == "succeeded"
    product_id = made[0]["product_id"]
    for quantity in (1, 50):
        order = {
            "customer_id": "ops",
            "currency": "EUR",
            "lines": [{"product_id": product_id, "quantity": quantity}],
        }
        finished(stack, accepted(stack, "/orders", order)["command_id"])
    return [command["product_id"] for command in made]


def dead_letter_with_its_cause_gone(stack, product_id: str) -> str:
    """A rebuild's dead letter of a product that the store holds and the
    projector can apply now (as after a fix): a retry succeeds."""
    client = MongoClient(stack.settings.mongodb_uri)
    try:
        letters = DeadLetters(client[stack.settings.mongodb_database])
        return letters.record(
            handler=REBUILD, stream_id=product_id, stream_type="product", version=1, message={},
            error=RuntimeError("the projection's bug, fixed since"),
        )  # fmt: skip
    finally:
        client.close()


def load(stack, seconds: float) -> None:
    """Commands for ``seconds``, sent without waiting for each; then wait
    for them all."""
    [product_id] = some_commands(stack, products=1)
    sent = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        sent.append(accepted(stack, f"/products/{product_id}/stock-adjustments", {"delta": 1})["command_id"])
        line = {"product_id": product_id, "quantity": 1}
        order = {"customer_id": "ops", "currency": "EUR", "lines": [line]}
        sent.append(accepted(stack, "/orders", order)["command_id"])
        time.sleep(0.05)
    for command_id in sent:
        finished(stack, command_id)


def letters(stack) -> list[str]:
    answer = stack.get("/dead-letters", headers=AS_ADMIN)
    assert answer.status_code == 200, answer.text
    return [letter["id"] for letter in answer.json()["letters"]]


def test_the_admin_routes_over_http(stack):
    [product_id] = some_commands(stack, products=1)
    letter_id = dead_letter_with_its_cause_gone(stack, product_id)
    retry = f"/dead-letters/{letter_id}/retry"
    # Without a token, or with one of a smaller scope, I expect a refusal
    for route in ("/ops/data", "/dead-letters"):
        assert stack.get(route).status_code == 401
        assert stack.get(route, headers={"Authorization": f"Bearer {READER}"}).status_code == 403
    refused = stack.post(retry, headers={"Authorization": f"Bearer {READER}"})
    assert refused.status_code == 403
    assert refused.headers["Content-Type"] == "application/problem+json"
    # The page itself holds no data: it needs none
    assert stack.get("/ops").status_code == 200
    # As admin, the letter is listed, and in /ops/data
    assert letter_id in letters(stack)
    data = stack.get("/ops/data", headers=AS_ADMIN).json()
    assert data["sources"] == {"redis": True, "mongodb": True}
    assert letter_id in [letter["id"] for letter in data["dead_letters"]["letters"]]
    # An unknown letter is a problem
    unknown = stack.post("/dead-letters/rebuild:nope:1/retry", headers=AS_ADMIN)
    assert unknown.status_code == 404
    assert unknown.headers["Content-Type"] == "application/problem+json"
    # When a retry is asked for, I expect it queued, and the worker to apply the letter
    answer = stack.post(retry, headers=AS_ADMIN)
    assert answer.status_code == 202
    assert answer.json() == {"letter_id": letter_id, "status": "queued"}
    deadline = time.monotonic() + 30
    while letter_id in letters(stack):
        assert time.monotonic() < deadline, stack.tail()
        time.sleep(0.2)


def browser():
    """Headless Chromium, or a skip saying what is missing."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (the test extra)")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if chromium is None or driver is None:
        pytest.skip("no headless browser: chromium and chromedriver are not on PATH "
                    "(Debian: apt-get install chromium chromium-driver)")  # fmt: skip
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1500"):
        options.add_argument(argument)
    return webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=driver))


def test_the_page_shows_every_panel_and_retries_a_dead_letter(stack, tmp_path):
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver = browser()
    try:
        products = some_commands(stack)
        letter_id = dead_letter_with_its_cause_gone(stack, products[1])
        # Given the page, opened with the admin token in its fragment
        driver.get(f"{stack.url}/ops#token={ADMIN}")
        # The page redraws its tables on every poll: a row found may be
        # replaced before it is read, and is then looked for again.
        redrawn = (NoSuchElementException, StaleElementReferenceException)
        wait = WebDriverWait(driver, 30, poll_frequency=0.2, ignored_exceptions=redrawn)

        def panel(name):
            return driver.find_element(By.ID, name)

        # I expect every panel to show data, and the token off the address bar
        for name in PANELS:
            wait.until(
                lambda d, name=name: panel(name).get_attribute("data-state") == "data", f"panel {name}"
            )
        assert ADMIN not in driver.current_url
        assert driver.execute_script("return sessionStorage.getItem('shop-ops-token')") == ADMIN
        # More commands while it watches: the outcome rates and the charts move
        load(stack, seconds=10)
        for name in ("queues", "outcomes", "lag"):
            wait.until(lambda d, name=name: panel(name).find_elements(By.CSS_SELECTOR, ".chart canvas"), name)
        # The first row is AdjustStock's, which the load sent: its rate (per
        # minute, or "—" before two readings) rises above 0.
        def first_rate(d):
            text = panel("outcomes").find_element(By.CSS_SELECTOR, "tbody td.number").text
            return text != "—" and float(text) > 0

        wait.until(first_rate, "a rate above 0")
        queues = panel("queues").text
        assert "commands" in queues and "projections" in queues
        outcomes = panel("outcomes").text
        assert "CreateProduct" in outcomes and "succeeded" in outcomes and "rejected" in outcomes
        assert "products" in panel("lag").text and "orders" in panel("lag").text
        assert "idle" in panel("rebuilds").text
        letters_panel = panel("dead-letters")
        assert "the projection's bug, fixed since" in letters_panel.text
        assert "(1)" in letters_panel.find_element(By.CSS_SELECTOR, "h2").text
        driver.save_screenshot(str(tmp_path / "ops.png"))
        # When Retry is clicked
        letters_panel.find_element(By.CSS_SELECTOR, f'button.retry[data-letter="{letter_id}"]').click()
        # I expect a worker to apply the letter, and the page to say there is none left
        wait.until(lambda d: panel("dead-letters").get_attribute("data-state") == "empty", "the letter to go")
        assert "No dead letters." in panel("dead-letters").text
        assert letter_id not in letters(stack)
        driver.save_screenshot(str(tmp_path / "ops-retried.png"))
        print(f"screenshots in {tmp_path}")
    finally:
        driver.quit()
