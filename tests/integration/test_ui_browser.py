"""The /ui/ pages in a real headless Chromium (Debian's, driven by Playwright) through
nginx on the native stack: every page loads without console errors; the prediction
form answers what the API answers for the same row (a model trained through the
training endpoint on a CSV with categorical columns and missing values); a bad value
shows the API's message by its field; the CSV batch round trip; training from a CSV
upload to a new version; promote and roll back; cancel a queued job. Screenshots of
every page go to var/screenshots/.

Kept with the other integration tests so the whole suite starts one stack (its ports
are fixed). Run alone: flock /tmp/mlstack-stack.lock .venv/bin/pytest tests/integration/test_ui_browser.py"""

from __future__ import annotations

import csv
import io
import json
import time

import numpy as np
import pytest
import skops.io as sio

from tests.api.test_training import people_csv
from tests.integration.conftest import (
    AUTH,
    ROOT,
    TOKEN,
    eventually,
    require_chromium,
    train,
    wait_job,
)
from tests.integration.test_browser import CHROMIUM_ARGS, PortForwarder

pytestmark = pytest.mark.integration

SHOTS = ROOT / "var" / "screenshots"
PEOPLE = "ui-people"  # trained twice through the API: v1 production, v2 available
FLOWERS = "ui-flowers"  # uploaded with a non-nullable numeric schema and a sample CSV
FLOWER_FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


@pytest.fixture(scope="module")
def browser():
    executable = require_chromium()
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture(scope="module")
def models(stack):
    """The people dataset uploaded and trained on (twice), and an uploaded iris tree."""
    r = stack.post(
        "/api/v1/datasets",
        headers=AUTH,
        data={"target": "label"},
        files={"file": ("people.csv", people_csv(120), "text/csv")},
    )
    assert r.status_code == 201, r.text
    dataset = r.json()["id"]
    for depth in (3, 4):
        job = train(
            stack,
            PEOPLE,
            {"dataset": dataset, "algorithm": "decision_tree", "params": {"max_depth": depth}},
        )
        assert wait_job(stack, job["id"])["status"] == "succeeded"

    from sklearn.datasets import load_iris
    from sklearn.tree import DecisionTreeClassifier

    X, y = load_iris(return_X_y=True)
    schema = {
        "features": [
            {"name": n, "type": "numeric", "example": float(x)}
            for n, x in zip(FLOWER_FEATURES, X[0], strict=True)
        ]
    }
    sample = "\n".join([",".join(FLOWER_FEATURES)] + [",".join(map(str, row)) for row in X]) + "\n"
    r = stack.post(
        f"/api/v1/models/{FLOWERS}/versions",
        headers=AUTH,
        data={"schema": json.dumps(schema)},
        files={
            "file": (
                "m.skops",
                sio.dumps(DecisionTreeClassifier(max_depth=3, random_state=0).fit(X, y)),
                "application/octet-stream",
            ),
            "sample": ("sample.csv", sample, "text/csv"),
        },
    )
    assert r.status_code == 201, r.text
    assert r.json()["schema"]["features"][0]["statistics"]["max"] == float(X[:, 0].max())
    return {"dataset": dataset}


class Tab:
    """A browser tab on the stack that records console errors and uncaught exceptions."""

    def __init__(self, browser, origin: str, width: int = 1200):
        self.page = browser.new_page(
            viewport={"width": width, "height": 1400}, accept_downloads=True
        )
        self.origin = origin
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))

    def open(self, path: str):
        self.page.goto(self.origin + path, wait_until="networkidle", timeout=30_000)
        return self.page

    def sign_in(self):
        """Type the admin token once, as a person does; it stays for this tab."""
        self.page.fill("#token-input", TOKEN)
        self.page.click("#token-form button[type=submit]")
        self.page.wait_for_selector("#token-state:text('Admin')")

    def shot(self, name: str):
        self.page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)

    def close(self):
        self.page.close()


@pytest.fixture
def tab(running, browser):
    t = Tab(browser, running.url)
    yield t
    t.close()


def api_predict(stack, name: str, row: dict) -> dict:
    r = stack.post(
        f"/api/v1/models/{name}/predict", json={"instances": [row], "return_proba": True}
    )
    assert r.status_code == 200, r.text
    return r.json()


@pytest.mark.parametrize(
    "path, ready, shot",
    [
        ("/ui/", f"#models-table tr[data-model='{PEOPLE}']", "models"),
        (f"/ui/models/{PEOPLE}", "#fields [data-feature='city'] select", "model"),
        ("/ui/train", "#algorithm option", "train"),
        ("/ui/jobs", "#jobs-table tr[data-job]", "jobs"),
    ],
)
def test_each_page_loads_without_console_errors(tab, models, path, ready, shot):
    page = tab.open(path)
    page.wait_for_selector(ready, state="attached", timeout=15_000)
    assert page.locator("a[href$='/api/v1/docs']").count() == 1
    assert page.locator("#page-error").is_hidden()
    tab.shot(shot)
    assert tab.errors == []


def test_pages_are_readable_at_360_px_without_sideways_scrolling(running, browser, models):
    t = Tab(browser, running.url, width=360)
    try:
        for path in ("/ui/", f"/ui/models/{PEOPLE}", "/ui/train", "/ui/jobs"):
            page = t.open(path)
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 360, (path, width)
        t.open(f"/ui/models/{PEOPLE}").wait_for_selector("#fields select")
        t.shot("model-360px")
        assert t.errors == []
    finally:
        t.close()


def test_the_form_predicts_what_the_api_answers_for_the_same_row(tab, running, models):
    page = tab.open(f"/ui/models/{PEOPLE}")
    page.wait_for_selector("#fields [data-feature='income'] input")
    schema = running.get(f"/api/v1/models/{PEOPLE}/schema").json()
    age = next(f for f in schema["features"] if f["name"] == "age")
    assert (
        f"Training range {age['statistics']['min']:g} to {age['statistics']['max']:g}"
        in page.inner_text("[data-feature='age'] .hint")
    )

    cases = [
        ({"age": 52, "city": "lyon", "income": None}, "lyon"),
        ({"age": 23, "city": None, "income": 1500}, "missing"),
        ({"age": 61, "city": "marseille", "income": 1100}, "other"),
    ]
    for row, city_choice in cases:
        page.fill("input[name='age']", str(row["age"]))
        page.fill("input[name='income']", "" if row["income"] is None else str(row["income"]))
        if city_choice == "missing":
            page.select_option("select[name='city']", label="missing")
        elif city_choice == "other":
            page.select_option("select[name='city']", "__other__")
            page.fill("#fields [data-feature='city'] input[type='text']", row["city"])
        else:
            page.locator("select[name='city']").select_option(
                label=page.locator("select[name='city'] option", has_text=city_choice).inner_text()
            )
        page.click("#predict-button")
        expected = api_predict(running, PEOPLE, row)
        page.wait_for_function(
            "(v) => document.querySelector('#prediction').textContent === v",
            arg=str(expected["predictions"][0]),
            timeout=10_000,
        )
        bars = {
            g.get_attribute("data-class"): g
            for g in page.query_selector_all("#probabilities [data-class]")
        }
        assert sorted(bars) == sorted(map(str, expected["classes"]))
        for label, p in zip(expected["classes"], expected["probabilities"][0], strict=True):
            assert float(bars[str(label)].get_attribute("data-probability")) == pytest.approx(
                p, abs=1e-12
            )
            assert float(
                bars[str(label)].query_selector(".proba-value").text_content()
            ) == pytest.approx(p, abs=1e-3)
    tab.shot("predict")

    page.fill("input[name='age']", "500")
    warning = page.locator("[data-feature='age'] .range-warning")
    assert warning.is_visible() and "outside the training range" in warning.inner_text()
    assert tab.errors == []


def test_a_bad_value_shows_the_apis_message_by_the_field(tab, running, models):
    page = tab.open(f"/ui/models/{FLOWERS}")
    page.wait_for_selector("input[name='sepal_length']")
    page.click("#example-button")
    assert page.input_value("input[name='sepal_length']") == "5.1"
    page.fill("input[name='petal_width']", "")
    page.click("#predict-button")
    message = page.locator("[data-feature='petal_width'] .field-error")
    message.wait_for(timeout=10_000)

    row = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": None}
    r = running.post(f"/api/v1/models/{FLOWERS}/predict", json={"instances": [row]})
    assert r.status_code == 400
    assert message.inner_text() == r.json()["errors"]["instances[0].petal_width"]
    assert page.get_attribute("input[name='petal_width']", "aria-invalid") == "true"
    assert page.locator("[data-feature='sepal_length'] .field-error").is_hidden()
    assert page.locator("#result").is_hidden()
    tab.shot("predict-bad-value")


def test_a_csv_batch_is_scored_with_errors_per_row_and_downloads(tab, running, models):
    body = "age,city,income\n30,paris,1200\n50,,\nold,lyon,1000\n40,nice,1500\n66,lille,1800\n"
    good = body.replace("old,lyon,1000\n", "")
    expected = running.post(
        f"/api/v1/models/{PEOPLE}/predict?return_proba=true",
        data=good,
        headers={"Content-Type": "text/csv"},
    ).json()
    page = tab.open(f"/ui/models/{PEOPLE}")
    page.set_input_files(
        "input[name='csv']",
        files=[{"name": "people.csv", "mimeType": "text/csv", "buffer": body.encode()}],
    )
    page.click("#batch-form button[type=submit]")
    page.wait_for_selector("#batch-download:visible", timeout=15_000)
    assert "4 of 5 rows scored, 1 with errors" in page.inner_text("#batch-summary")
    shown = [c.inner_text() for c in page.query_selector_all("#batch-table td.prediction")]
    assert shown == [str(p) for p in expected["predictions"]]
    error = page.query_selector("#batch-errors tbody tr")
    assert error.get_attribute("data-row") == "3" and "expected a number" in error.inner_text()
    tab.shot("batch")

    with page.expect_download() as download:
        page.click("#batch-download")
    rows = list(csv.DictReader(io.StringIO(open(download.value.path()).read())))
    assert len(rows) == 5
    scored = [r for r in rows if r["prediction"]]
    assert [r["prediction"] for r in scored] == [str(p) for p in expected["predictions"]]
    for r, probs in zip(scored, expected["probabilities"], strict=True):
        got = [float(r[f"proba_{c}"]) for c in expected["classes"]]
        assert np.allclose(got, probs)
    assert rows[2]["prediction"] == "" and "age" in rows[2]["error"]
    # the browser logs the API's 400 naming the bad row; nothing else
    assert [e for e in tab.errors if "status of 400" not in e] == [] and len(tab.errors) == 1


def test_training_from_a_csv_upload_reaches_the_new_version(tab, running, models):
    page = tab.open("/ui/train")
    assert page.locator("#train-button").is_hidden()  # admin only
    tab.sign_in()
    page.set_input_files(
        "#dataset-file",
        files=[{"name": "people.csv", "mimeType": "text/csv", "buffer": people_csv(90)}],
    )
    page.wait_for_selector("#upload-target option[value='label']", state="attached")
    page.select_option("#upload-target", "label")
    page.click("#upload-button")
    page.wait_for_selector("#columns-table tr[data-column='city']")
    assert page.inner_text("#columns-table tr[data-column='city'] .type") == "categorical"
    assert page.inner_text("#columns-table tr[data-column='age'] .type") == "numeric"
    page.fill("#model-name", "ui-trained")
    page.select_option("#algorithm", "random_forest")
    assert page.input_value("#param-n_estimators") == "100"  # scikit-learn's default, from the API
    page.fill("#param-n_estimators", "15")
    tab.shot("train-filled")
    page.click("#train-button")
    page.wait_for_selector("#job-done:visible", timeout=120_000)
    assert page.inner_text("#job-status") == "succeeded"
    tab.shot("train-done")
    page.click("#job-link")
    page.wait_for_selector("#versions-table tr[data-version='1']")
    assert page.url.endswith("/ui/models/ui-trained?version=1")
    version = running.get("/api/v1/models/ui-trained/versions/1").json()
    assert version["training"]["spec"]["params"] == {"n_estimators": 15}
    assert version["algorithm"] == "random_forest"
    assert page.input_value("#version-select") == "1"
    assert tab.errors == []


def test_promote_and_roll_back(tab, running, models):
    page = tab.open(f"/ui/models/{PEOPLE}")
    page.wait_for_selector("#versions-table tr[data-version='2']")
    assert page.locator("button.promote").first.is_hidden()  # no token: no admin controls
    tab.sign_in()

    def production_is(n):
        def check():
            assert running.get(f"/api/v1/models/{PEOPLE}").json()["production_version"] == n

        eventually(check)
        page.wait_for_selector(f"#versions-table tr[data-version='{n}'][data-stage='production']")

    production_is(1)
    page.click("button.promote[data-version='2']")
    production_is(2)
    tab.shot("promoted")
    assert page.inner_text("button.promote[data-version='1']") == "Roll back to v1"
    page.click("button.promote[data-version='1']")
    production_is(1)
    assert tab.errors == []


def test_a_queued_job_is_cancelled_from_the_jobs_page(tab, running, models):
    assert running.ctl("stop", "worker").returncode == 0
    try:
        job = train(running, PEOPLE, {"dataset": models["dataset"], "algorithm": "linear"})
        page = tab.open("/ui/jobs")
        row = f"#jobs-table tr[data-job='{job['id']}']"
        page.wait_for_selector(f"{row}[data-status='queued']")
        assert page.locator(f"{row} button.cancel").is_hidden()
        tab.sign_in()
        page.click(f"{row} button.cancel")
        page.wait_for_selector(f"{row}[data-status='cancelled']", timeout=10_000)
        assert running.get(f"/api/v1/jobs/{job['id']}").json()["status"] == "cancelled"
        tab.shot("jobs-cancelled")
        assert tab.errors == []
    finally:
        assert running.ctl("start", "worker").returncode == 0


def test_the_model_page_predicts_through_a_port_mapping(running, browser, models):
    forwarder = PortForwarder(5001)
    t = Tab(browser, f"http://127.0.0.1:{forwarder.port}")
    try:
        page = t.open(f"/ui/models/{FLOWERS}")
        page.wait_for_selector("input[name='sepal_length']")
        page.click("#example-button")
        page.click("#predict-button")
        page.wait_for_function(
            "document.querySelector('#prediction').textContent === '0'", timeout=10_000
        )
        assert t.errors == []
    finally:
        t.close()
        forwarder.close()


def test_the_readme_screenshot_of_the_prediction_form(tab, running, models):
    """The picture the README shows (docs/ui-predict.png is a copy of it)."""
    page = tab.open(f"/ui/models/{PEOPLE}")
    page.wait_for_selector("#fields [data-feature='city'] select")
    page.fill("input[name='age']", "52")
    page.fill("input[name='income']", "")
    page.select_option("select[name='city']", index=2)
    page.click("#predict-button")
    page.wait_for_selector("#probabilities [data-class]")
    time.sleep(0.2)
    card = page.locator("section[aria-labelledby='predict-heading']")
    card.screenshot(path=str(SHOTS / "readme-predict.png"))
    assert (SHOTS / "readme-predict.png").stat().st_size > 10_000
