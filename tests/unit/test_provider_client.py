"""What an adapter reaches its provider with (`paysweep.provider.client.ProviderClient`): a POST
with a JSON body, or a GET without one, each with the adapter's headers and the function's
bounds; no provider's method is built into the layer."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from paysweep.provider.client import ProviderClient
from paysweep.provider.http import AnswerTooLarge, build_session


class Echo(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else None
        answer = json.dumps({"method": self.command, "path": self.path, "body": body,
                             "contentType": self.headers.get("Content-Type"), "auth": self.headers.get("Authorization")})
        encoded = (answer + " " * 2000).encode() if self.path.endswith("/big") else answer.encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(encoded)))
        self.end_headers()
        self.wfile.write(encoded)

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def client() -> Iterator[ProviderClient]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield ProviderClient(base_url=f"http://127.0.0.1:{server.server_port}", session=build_session(2, 0),
                             credentials=dict, connect_timeout=2, read_timeout=5, max_answer_bytes=1024)
    finally:
        server.shutdown()


def test_a_post_carries_its_json_body_and_the_adapters_headers(client: ProviderClient) -> None:
    seen = json.loads(client.post("/pay/find", {"orderId": "결제-1"}, {"Authorization": "Basic x"}).body)
    assert seen == {"method": "POST", "path": "/pay/find", "body": '{"orderId":"결제-1"}',
                    "contentType": "application/json; charset=utf-8", "auth": "Basic x"}


def test_a_get_carries_no_body(client: ProviderClient) -> None:
    reply = client.get("/v1/payments/orders/ORD-1", {"Authorization": "Basic y"})
    assert reply.status == 200
    assert json.loads(reply.body) == {"method": "GET", "path": "/v1/payments/orders/ORD-1", "body": None,
                                      "contentType": None, "auth": "Basic y"}


def test_every_call_keeps_the_answer_size_bound(client: ProviderClient) -> None:
    with pytest.raises(AnswerTooLarge):
        client.get("/big")
