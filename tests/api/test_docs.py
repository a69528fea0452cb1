"""``/api/docs`` works without the internet: the page loads Swagger UI from the sidecar itself."""

from __future__ import annotations

import re

import pytest


@pytest.mark.sqlite
async def test_the_docs_page_loads_only_local_assets(api) -> None:
    response = await api.get("/api/docs")
    assert response.status == 200 and response.content_type == "text/html"
    page = await response.text()
    assert "://" not in page
    assets = re.findall(r'(?:href|src)="([^"]+)"', page)
    assert sorted(assets) == [
        "/api/docs/static/swagger-ui-bundle.js",
        "/api/docs/static/swagger-ui.css",
    ]
    for path in assets:
        asset = await api.get(path)
        assert asset.status == 200 and len(await asset.read()) > 10_000
    assert (await api.get("/api/docs/static/index.html")).status == 404
