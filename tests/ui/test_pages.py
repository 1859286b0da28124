"""The /ui/ pages rendered by the Flask test client (SQLite and PostgreSQL): each
page's shell, its links, its scripts, and the UI_ENABLED switch. What the scripts do
in a browser is tested in tests/integration/test_ui_browser.py."""

from __future__ import annotations

import re

import pytest

from app import create_app
from app.config import TestingConfig
from app.services import services_of

PAGES = ["/ui/", "/ui/models/iris", "/ui/train", "/ui/jobs", "/ui/bundles"]


@pytest.mark.parametrize("path", PAGES)
def test_every_page_renders_with_the_swagger_link_and_a_labelled_token_field(client, path):
    res = client.get(path)
    assert res.status_code == 200 and res.mimetype == "text/html"
    html = res.get_data(as_text=True)
    assert 'href="/api/v1/docs"' in html
    assert '<label for="token-input"' in html and 'id="token-input"' in html
    assert 'name="viewport"' in html
    # no CDN: every script and stylesheet is served by the app itself
    for url in re.findall(r'(?:src|href)="([^"]+\.(?:js|css))"', html):
        assert url.startswith("/ui/static/"), url
        assert client.get(url).status_code == 200, url


def test_every_form_control_has_a_label(client):
    for path in PAGES:
        html = client.get(path).get_data(as_text=True)
        labelled = set(re.findall(r'<label for="([^"]+)"', html))
        for tag in re.findall(r"<(?:input|select|textarea)\b[^>]*>", html):
            if 'type="radio"' in tag or 'type="checkbox"' in tag:
                continue  # wrapped in their <label>
            ident = re.search(r'id="([^"]+)"', tag)
            assert ident and (ident.group(1) in labelled or "aria-label" in tag), (path, tag)


def test_the_model_page_carries_the_model_name_and_the_batch_file_input(client):
    html = client.get("/ui/models/house-prices").get_data(as_text=True)
    assert 'data-model="house-prices"' in html
    assert 'type="file" name="csv"' in html
    assert 'id="predict-form"' in html and 'id="prediction"' in html


def test_an_invalid_model_name_is_a_400_page_with_the_apis_message(client):
    res = client.get("/ui/models/Not%20Valid")
    assert res.status_code == 400 and res.mimetype == "text/html"
    assert "invalid model name" in res.get_data(as_text=True)


def test_admin_controls_start_hidden(client):
    for path in ("/ui/train", "/ui/models/iris", "/ui/jobs", "/ui/bundles"):
        html = client.get(path).get_data(as_text=True)
        for tag in re.findall(r'<[a-z]+\b[^>]*class="[^"]*admin-only[^"]*"[^>]*>', html):
            assert " hidden" in tag, (path, tag)


def test_the_root_sends_a_browser_to_the_ui(client):
    res = client.get("/")
    assert res.status_code == 302 and res.headers["Location"] == "/ui/"


def test_the_vendored_library_ships_with_its_licence(client):
    assert client.get("/ui/static/vendor/papaparse-5.4.1/papaparse.min.js").status_code == 200
    licence = client.get("/ui/static/vendor/papaparse-5.4.1/LICENSE").get_data(as_text=True)
    assert "MIT" in licence


def test_ui_disabled_removes_the_pages_and_root_goes_to_swagger(tmp_path):
    app = create_app(
        TestingConfig(
            var_dir=tmp_path / "var",
            DATABASE_URL=f"sqlite:///{tmp_path / 'x.db'}",
            UI_ENABLED=False,
        )
    )
    client = app.test_client()
    assert client.get("/ui/").status_code == 404
    res = client.get("/")
    assert res.status_code == 302 and res.headers["Location"] == "/api/v1/docs"
    services_of(app).db.dispose()


def test_pages_behind_a_path_prefix_use_it_for_links_and_the_api(client):
    html = client.get("/ui/jobs", headers={"X-Forwarded-Prefix": "/ml"}).get_data(as_text=True)
    assert 'data-api="/ml/api/v1"' in html and 'href="/ml/api/v1/docs"' in html
    assert 'src="/ml/ui/static/ui.js"' in html
