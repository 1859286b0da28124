"""The Bundles page (/ui/bundles) in headless Chromium through nginx: choose a model and
parts, see every file of the API's bundle as a card with its first lines, open one in
full, change a choice and see the cards follow (and a refused combination explained),
download the zip the API serves. Needs issue 15's /api/v1/bundles."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
import skops.io as sio

from tests.integration.conftest import AUTH
from tests.integration.test_ui_browser import SHOTS, Tab, browser  # noqa: F401 (fixture)

pytestmark = pytest.mark.integration

MODEL = "ui-bundle-flowers"


@pytest.fixture(scope="module")
def flowers(stack):
    from sklearn.datasets import load_iris
    from sklearn.tree import DecisionTreeClassifier

    X, y = load_iris(return_X_y=True)
    schema = {
        "features": [
            {"name": f"f{i}", "type": "numeric", "example": float(x)} for i, x in enumerate(X[0])
        ]
    }
    r = stack.post(
        f"/api/v1/models/{MODEL}/versions",
        headers=AUTH,
        data={"schema": json.dumps(schema)},
        files={
            "file": (
                "m.skops",
                sio.dumps(DecisionTreeClassifier(max_depth=2).fit(X, y)),
                "application/octet-stream",
            )
        },
    )
    assert r.status_code == 201, r.text
    return r.json()


def api_bundle(stack, components):
    r = stack.post(
        "/api/v1/bundles",
        headers=AUTH,
        json={"models": [MODEL], "components": components, "database": "sqlite"},
    )
    assert r.status_code == 201, r.text
    return r.json()


def test_the_bundle_page_shows_cards_follows_choices_and_downloads(running, browser, flowers):  # noqa: F811
    tab = Tab(browser, running.url)
    try:
        page = tab.open("/ui/bundles")
        assert page.locator("#bundle-form").is_hidden()  # admin only
        tab.sign_in()
        page.wait_for_selector(f"#bundle-models input[value='{MODEL}']")
        for box in page.query_selector_all("#bundle-models input[type=checkbox]"):
            box.set_checked(box.get_attribute("value") == MODEL)
        expected = api_bundle(running, ["api", "swagger", "database", "tests"])
        readme = "#bundle-cards li[data-path='README.md']"
        # the same models and parts give the same bundle id: the cards are the API's bundle
        page.wait_for_selector(f"#bundle-cards[data-bundle='{expected['id']}'] li", timeout=120_000)
        paths = [
            li.get_attribute("data-path") for li in page.query_selector_all("#bundle-cards li")
        ]
        assert paths == [f["path"] for f in expected["files"]]

        text = running.get(f"/api/v1/bundles/{expected['id']}/files/README.md", headers=AUTH).text
        page.wait_for_function(
            "(sel) => !document.querySelector(sel + ' pre').textContent.startsWith('…')",
            arg=readme,
            timeout=10_000,
        )
        assert page.inner_text(f"{readme} pre").strip() == "\n".join(text.split("\n")[:6]).strip()
        tab.shot("bundles")
        page.click(f"{readme} button.open")
        page.wait_for_function(
            "(t) => document.querySelector('#file-dialog-text').textContent === t", arg=text
        )
        page.click("#file-dialog button[type=submit]")

        page.uncheck("#bundle-components input[value='tests']")
        without_tests = api_bundle(running, ["api", "swagger", "database"])
        page.wait_for_selector(
            f"#bundle-cards[data-bundle='{without_tests['id']}'] li", timeout=120_000
        )
        assert page.locator("#bundle-cards li[data-path='tests/test_service.py']").count() == 0
        assert [
            li.get_attribute("data-path") for li in page.query_selector_all("#bundle-cards li")
        ] == [f["path"] for f in without_tests["files"]]

        with page.expect_download() as download:
            page.click("#bundle-download")
        data = open(download.value.path(), "rb").read()
        archive = running.get(without_tests["archive"], headers=AUTH).content
        assert data == archive
        names = zipfile.ZipFile(io.BytesIO(data)).namelist()
        assert sorted(n.split("/", 1)[1] for n in names) == sorted(
            f["path"] for f in without_tests["files"]
        )

        page.check("#bundle-components input[value='docker']")
        refused = running.post(
            "/api/v1/bundles",
            headers=AUTH,
            json={
                "models": [MODEL],
                "components": ["api", "swagger", "database", "docker"],
                "database": "sqlite",
            },
        )
        assert refused.status_code == 400
        page.wait_for_selector("#bundle-error:visible", timeout=30_000)
        assert refused.json()["message"] in page.inner_text("#bundle-error")
        assert [e for e in tab.errors if "status of 400" not in e] == []
    finally:
        tab.close()
