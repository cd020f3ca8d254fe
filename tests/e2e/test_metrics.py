"""The metrics are there, and move when commands flow; a real scrape
passes promtool's lint, and holds every metric the alert rules and the
dashboard use."""

import json
import re
import shutil
import subprocess
import time
import uuid

import pytest
import requests
import yaml

from tests.e2e.conftest import ROOT

# A catch-up pass every second, so that its measures are in a scrape soon.
STACK_ENV = {"METRICS_TOKEN": "scrape-me", "CATCH_UP_INTERVAL": "1"}


def scrape_text(stack) -> str:
    answer = requests.get(stack.url + "/metrics", headers={"Authorization": "Bearer scrape-me"}, timeout=10)
    assert answer.status_code == 200
    return answer.text


def scrape(stack) -> dict[str, float]:
    values = {}
    for line in scrape_text(stack).splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    return values


def total(values, pattern):
    return sum(v for k, v in values.items() if re.fullmatch(pattern, k))


def test_metrics_are_guarded_present_and_move(stack):
    assert requests.get(stack.url + "/metrics", timeout=10).status_code == 401
    before = scrape(stack)
    for name in (
        "shop_queue_depth",
        "shop_dead_letter_queue_depth",
        "shop_dead_letters",
        "shop_projection_lag_versions",
        "shop_projection_lag_seconds",
    ):
        assert any(k.startswith(name) for k in before), name
    accepted = [
        stack.post(
            "/products",
            json={"sku": f"M-{uuid.uuid4().hex[:8]}", "name": "n", "price_cents": 1, "currency": "EUR"},
        ).json()
        for _ in range(5)
    ]
    for command in accepted:
        stack.wait_for(command["command_id"])
    stack.wait_for_product(accepted[-1]["product_id"])
    deadline = time.monotonic() + 10
    while True:
        after = scrape(stack)
        if (
            after.get('shop_projection_lag_versions{read_model="products"}', 1) == 0
            or time.monotonic() > deadline
        ):
            break
        time.sleep(0.2)
    assert (
        total(after, r'shop_commands_accepted_total\{type="CreateProduct"\}')
        >= total(before, r'shop_commands_accepted_total\{type="CreateProduct"\}') + 5
    )
    created = r'\{outcome="succeeded",type="CreateProduct"\}'
    assert total(after, "shop_commands_completed_total" + created) >= 5
    assert total(after, "shop_command_latency_seconds_count" + created) >= 5
    assert total(after, r'shop_http_requests_total\{.*route="/products".*\}') >= 5
    assert total(after, r"shop_http_request_duration_seconds_count.*") > 0
    assert after['shop_projection_lag_versions{read_model="products"}'] == 0
    assert total(after, r'shop_http_request_duration_seconds_count\{method="POST",route="/products"\}') >= 5
    for queue in ("commands", "projections"):
        assert f'shop_queue_oldest_message_age_seconds{{queue="{queue}"}}' in after
        assert f'shop_retry_queue_depth{{queue="{queue}"}}' in after


# --- promtool, the alert rules and the dashboard ------------------------------------

PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool is not on PATH (Debian: apt-get install prometheus)"
)
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "shop.json"
METRIC = re.compile(r"\b(shop_[a-z0-9_]+)\b")
GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")


def kit_expressions() -> dict[str, str]:
    """Every PromQL expression of the alert rules and the dashboard, by where it is."""
    found = {}
    for group in yaml.safe_load(ALERTS.read_text())["groups"]:
        for rule in group["rules"]:
            found[f"alert {rule['alert']}"] = rule["expr"]
    for panel in json.loads(DASHBOARD.read_text())["panels"]:
        for target in panel.get("targets", []):
            found[f"panel {panel['title']} {target['refId']}"] = target["expr"]
    return found


def series_labels(text: str) -> dict[str, set[str]]:
    """Each sample name of a scrape, with the label names it carries."""
    found: dict[str, set[str]] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, labels = line.partition("{")
            labels = re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="', labels) if labels else []
            found.setdefault(name.split(" ")[0], set()).update(labels)
    return found


def busy_scrape(stack) -> str:
    """A scrape after commands, a read waiting on after=, and a catch-up pass."""
    created = stack.post(
        "/products",
        json={"sku": f"P-{uuid.uuid4().hex[:8]}", "name": "Mug", "price_cents": 500, "currency": "EUR"},
    ).json()
    waited = stack.get(
        f"/products/{created['product_id']}",
        params={"after": created["command_id"]},
        headers={"Prefer": "wait=5"},
    )
    assert waited.status_code == 200
    deadline = time.monotonic() + 30
    while True:
        text = scrape_text(stack)
        needed = ("shop_projection_lag_measured_age_seconds ", "shop_command_latency_seconds_bucket")
        if all(name in text for name in needed):
            return text
        assert time.monotonic() < deadline, text
        time.sleep(0.5)


@needs_promtool
def test_a_real_scrape_passes_promtool_check_metrics(stack):
    checked = subprocess.run(
        [PROMTOOL, "check", "metrics"], input=busy_scrape(stack).encode(), capture_output=True, timeout=30
    )
    assert checked.returncode == 0, checked.stdout.decode() + checked.stderr.decode()
    assert not checked.stdout.strip(), checked.stdout.decode()


def test_every_metric_the_alerts_and_the_dashboard_use_is_in_a_real_scrape(stack):
    scraped = series_labels(busy_scrape(stack))
    assert "shop_after_waits_in_progress" in scraped
    for where, expr in kit_expressions().items():
        names = set(METRIC.findall(expr))
        assert names or "up{" in expr, f"{where}: no shop metric in {expr}"
        missing = names - set(scraped)
        assert not missing, f"{where}: {sorted(missing)} not in a scrape"
        labels = set().union(*(scraped[name] for name in names)) if names else {"job", "instance"}
        for grouping in GROUPING.findall(expr):
            unknown = {label.strip() for label in grouping.split(",") if label.strip()} - labels
            assert not unknown, f"{where}: grouped by {sorted(unknown)}, which {sorted(names)} lack"
