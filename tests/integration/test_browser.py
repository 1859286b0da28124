"""Swagger UI in a real headless Chromium (Debian's, driven by Playwright): open the
docs through nginx, expand the predict operation, "Try it out" with the example body,
execute, and see a 200 with predictions. Screenshots go to tests/artifacts/.

Run twice: straight to nginx on 5001, and through a TCP port forwarder on another
port, which is what Docker's `5000:5001` mapping does (the browser's origin is then a
port nginx does not listen on, and "Try it out" must still go there)."""

from __future__ import annotations

import json
import socket
import threading

import pytest

from tests.integration.conftest import ARTIFACTS, require_chromium

pytestmark = pytest.mark.integration

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


class PortForwarder:
    """127.0.0.1:<free port> -> 127.0.0.1:<target>, byte for byte (like docker-proxy)."""

    def __init__(self, target: int):
        self.target = target
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.closed = False
        self.sockets = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target))
            self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src, dst):
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self):
        self.closed = True
        self.server.close()
        for s in self.sockets:
            s.close()


@pytest.fixture(scope="module")
def browser():
    executable = require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


def try_it_out_predicts(browser, origin: str, artifact: str) -> None:
    """Swagger UI at `origin`: expand predict, "Try it out" on the iris model with the
    documented example, execute, and check the 200 and that the request went to
    `origin`. Used against the native stack here and the container in tests/docker."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1280, "height": 2000})
    sent = []
    page.on("request", lambda req: sent.append(req.url) if "/predict" in req.url else None)
    try:
        page.goto(origin + "/api/v1/docs", wait_until="networkidle", timeout=30_000)
        # operations start collapsed under their tags
        page.locator('.opblock-tag[data-tag="predictions"]').click()
        page.wait_for_selector(".opblock", timeout=30_000)

        op = page.locator(
            ".opblock.opblock-post", has=page.locator('[data-path="/models/{name}/predict"]')
        )
        op.locator(".opblock-summary").first.click()
        op.locator("button.try-out__btn").click()
        op.locator('tr[data-param-name="name"] input').fill("iris")
        body = op.locator("textarea.body-param__text")
        example = json.loads(body.input_value())  # the documented example, untouched
        assert example["instances"], example
        with page.expect_response(lambda r: "/predict" in r.url, timeout=30_000) as answer:
            op.locator("button.execute").click()
        response = answer.value
        assert response.status == 200, response.text()
        assert response.json()["predictions"] == [0]

        status = op.locator(".live-responses-table .response .response-col_status").first
        status.wait_for(timeout=10_000)
        assert status.inner_text().strip().startswith("200")
        assert "predictions" in op.locator(".live-responses-table").inner_text()
        # "Try it out" went to the origin the browser used, whatever port that is
        assert sent and all(u.startswith(origin + "/api/v1/models/iris/predict") for u in sent), (
            sent
        )
        op.scroll_into_view_if_needed()
    finally:
        page.screenshot(path=str(ARTIFACTS / f"swagger-try-it-out-{artifact}.png"), full_page=True)
        page.close()


@pytest.mark.parametrize("path", ["direct-5001", "port-mapped"])
def test_swagger_ui_try_it_out_predicts(running, browser, path):
    forwarder = PortForwarder(5001) if path == "port-mapped" else None
    try:
        try_it_out_predicts(
            browser, f"http://127.0.0.1:{forwarder.port if forwarder else 5001}", path
        )
    finally:
        if forwarder:
            forwarder.close()
