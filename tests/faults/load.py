"""A bounded, seeded mixed load over HTTP, as several clients would send
it: product creates (a few with a SKU already taken), price patches, stock
adjustments, orders contending for a few hot products, cancels, shipments,
and requests sent twice with one ``Idempotency-Key``.  Every answer is
recorded, so that each ``202`` can be accounted for afterwards."""

from __future__ import annotations

import random
import threading
import time
import uuid
from dataclasses import dataclass, field

import requests


@dataclass
class Sent:
    command_id: str | None
    kind: str
    status: int  # the HTTP status
    at: float  # when the answer came (time.time())
    key: str | None = None
    unknown: bool = False  # a 503 whose command may or may not be queued


@dataclass
class Ledger:
    """Everything the clients sent and were answered."""

    sent: list[Sent] = field(default_factory=list)
    products: list[str] = field(default_factory=list)
    skus: list[str] = field(default_factory=list)
    orders: list[str] = field(default_factory=list)
    keyed: dict[str, list[tuple[str, float]]] = field(default_factory=dict)  # key -> (command id, when)
    setup: set[str] = field(default_factory=set)  # commands sent before the load
    lock: threading.Lock = field(default_factory=threading.Lock)

    def accepted(self) -> list[Sent]:
        return [s for s in self.sent if s.status == 202]

    def record(self, sent: Sent) -> None:
        with self.lock:
            self.sent.append(sent)
            if sent.key is not None and sent.status == 202:
                self.keyed.setdefault(sent.key, []).append((sent.command_id, sent.at))


class Client:
    def __init__(self, url: str, ledger: Ledger, rng: random.Random):
        self.url = url
        self.ledger = ledger
        self.rng = rng
        self.http = requests.Session()

    def send(self, kind: str, method: str, path: str, body=None, key: str | None = None) -> dict | None:
        headers = {"Idempotency-Key": key} if key else {}
        try:
            answer = self.http.request(method, self.url + path, json=body, headers=headers, timeout=10)
        except requests.RequestException:
            self.ledger.record(Sent(None, kind, 0, time.time(), key))
            return None
        data = {}
        if answer.headers.get("Content-Type", "").startswith(
            ("application/json", "application/problem+json")
        ):
            data = answer.json()
        unknown = answer.status_code == 503 and "command_id" in data
        self.ledger.record(Sent(data.get("command_id"), kind, answer.status_code, time.time(), key, unknown))
        return data if answer.status_code == 202 else None

    def step(self, hot: list[str]) -> None:
        rng, ledger = self.rng, self.ledger
        with ledger.lock:
            products = list(ledger.products) or hot
            orders = list(ledger.orders)
            skus = list(ledger.skus)
        roll = rng.random()
        key = f"k-{uuid.UUID(int=rng.getrandbits(128))}" if rng.random() < 0.1 else None
        if roll < 0.10:
            sku = rng.choice(skus) if skus and rng.random() < 0.2 else f"F-{rng.getrandbits(40):x}"
            body = {"sku": sku, "name": "Cup", "price_cents": rng.randint(100, 5000), "currency": "EUR",
                    "stock": rng.randint(0, 20)}  # fmt: skip
            request = ("create", "POST", "/products", body)
        elif roll < 0.22:
            product = rng.choice(products)
            request = ("patch", "PATCH", f"/products/{product}", {"price_cents": rng.randint(100, 5000)})
        elif roll < 0.37:
            product = rng.choice(hot if rng.random() < 0.7 else products)
            delta = rng.choice([-3, -2, -1, 1, 2, 3, 5, 8])
            request = ("adjust", "POST", f"/products/{product}/stock-adjustments", {"delta": delta})
        elif roll < 0.80 or not orders:
            chosen = rng.sample(hot, k=rng.randint(1, min(3, len(hot))))
            lines = [{"product_id": p, "quantity": rng.randint(1, 3)} for p in chosen]
            body = {"customer_id": f"c{rng.randint(1, 20)}", "currency": "EUR", "lines": lines}
            request = ("order", "POST", "/orders", body)
        elif roll < 0.93:
            request = ("cancel", "POST", f"/orders/{rng.choice(orders)}/cancel", None)
        else:
            request = ("ship", "POST", f"/orders/{rng.choice(orders)}/ship", None)
        kind, method, path, body = request
        answer = self.send(kind, method, path, body, key)
        if key is not None:
            # The same request again, as a client that did not see the answer would
            self.send(kind, method, path, body, key)
        if answer is not None:
            with ledger.lock:
                if kind == "create":
                    ledger.products.append(answer["product_id"])
                    ledger.skus.append(body["sku"])
                elif kind == "order":
                    ledger.orders.append(answer["order_id"])


def run_load(
    url: str,
    ledger: Ledger,
    hot: list[str],
    *,
    seed: int,
    clients: int,
    seconds: float,
    pause_s: float,
    new_hot_every_s: float = 60.0,
) -> None:
    """``clients`` threads, each sending until ``seconds`` have passed,
    ``pause_s`` apart (jittered).  Orders contend for a few hot products,
    and every ``new_hot_every_s`` the sale moves on to the newest products
    (so that the hot streams vary, as a real sale's do)."""
    deadline = time.monotonic() + seconds
    master = random.Random(seed)
    hot = list(hot)
    moved = [time.monotonic()]

    def client_loop(rng: random.Random) -> None:
        client = Client(url, ledger, rng)
        while time.monotonic() < deadline:
            client.step(hot)
            with ledger.lock:
                if time.monotonic() - moved[0] > new_hot_every_s and len(ledger.products) >= 2 * len(hot):
                    moved[0] = time.monotonic()
                    hot[:] = ledger.products[-len(hot) :]
            time.sleep(rng.uniform(0.5, 1.5) * pause_s)

    threads = [
        threading.Thread(target=client_loop, args=(random.Random(master.getrandbits(64)),), daemon=True)
        for _ in range(clients)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 60)
