"""/docs from the image: Swagger UI's files are in it (from requirements/main.txt), and the page
and everything it loads come from the container itself, naming no CDN."""

from __future__ import annotations

import pytest
from aiohttp import ClientSession

from service.docs import CONTENT_SECURITY_POLICY
from tests.docs_origins import check_no_other_origin, page_links

from .dockerctl import Api

pytestmark = pytest.mark.container


@pytest.mark.asyncio
async def test_the_image_serves_docs_and_its_assets_from_itself(api: Api) -> None:
    async with ClientSession(api.base_url) as http:  # no API key: the page is open
        async with http.get("/docs") as response:
            assert response.status == 200
            assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
            html = await response.text()
        check_no_other_origin("docs.html", html)
        links = page_links(html)
        assert links.inline == []
        for url in links.urls:
            async with http.get(url) as response:
                assert response.status == 200, url
                assert response.headers["X-Content-Type-Options"] == "nosniff"
                if not url.endswith(".png"):
                    check_no_other_origin(url.rsplit("/", 1)[1], await response.text())
