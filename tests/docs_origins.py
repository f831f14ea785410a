"""What /docs loads, and the other origins its files name: shared by the app and image tests.

The page and its assets must come from the service itself (service/docs.py). The HTML, the CSS
and our start-up script name no other origin at all (the CSS's only one is the SVG namespace
inside its data: icons). Swagger UI's bundle names a few in its code that it never loads: they
are listed here, reviewed, so an upgrade that brings a new one (a CDN, say) fails until someone
has looked at it. The browser test checks the other half: the page requests nothing elsewhere.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

ORIGIN = re.compile(r"\bhttps?://[A-Za-z0-9.-]+")
# Swagger UI 5.31's bundle, each named in code, none fetched: XML and JSON Schema namespaces,
# links in messages and licences, the link builders of its Markdown autolinker (social sites),
# sample values, a dummy base for URL parsing (`https://base`), and the default validator
# badge URL, which docs.js turns off (validatorUrl: null).
SWAGGER_UI_NAMES_ONLY = frozenset(
    {
        "http://fb.me",
        "http://json-schema.org",
        "http://www.w3.org",
        "https://base",
        "https://datatracker.ietf.org",
        "https://example.com",
        "https://github.com",
        "https://instagram.com",
        "https://json-schema.org",
        "https://reactjs.org",
        "https://redux.js.org",
        "https://soundcloud.com",
        "https://spdx.org",
        "https://spec.openapis.org",
        "https://swagger.io",
        "https://twitter.com",
        "https://validator.swagger.io",
        "https://vladimirgorej.com",
        "https://www.facebook.com",
        "https://www.rfc-editor.org",
        "https://www.tiktok.com",
    }
)
SVG_NAMESPACE = "http://www.w3.org"
_CSS_URL = re.compile(r"""url\(\s*["']?([^"')\s]*)""")


def origins(text: str) -> set[str]:
    return set(ORIGIN.findall(text))


class PageLinks(HTMLParser):
    """The URLs a page loads (script src, link href) and anything inline it carries."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        self.inline += [f"{tag} {name}=" for name in values if name.startswith("on")]
        if "style" in values or tag == "style":
            self.inline.append(f"{tag} style")
        if tag == "script":
            self._in_script = True
            if values.get("src"):
                self.urls.append(str(values["src"]))
            else:
                self.inline.append("script without src")
        elif tag == "link" and values.get("href"):
            self.urls.append(str(values["href"]))

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline.append(f"script body {data.strip()[:40]!r}")


def page_links(html: str) -> PageLinks:
    parser = PageLinks()
    parser.feed(html)
    parser.close()
    return parser


def same_origin_path(url: str) -> bool:
    """A path on this server: `/x`, never `//host/x` nor `scheme://`."""
    return url.startswith("/") and not url.startswith("//")


def check_no_other_origin(name: str, text: str) -> None:
    """Asserts what one served file may name, by kind (see the module's docstring)."""
    found = origins(text)
    if name.endswith(".css"):
        assert found <= {SVG_NAMESPACE}, f"{name} names {sorted(found)}"
        assert "@import" not in text, f"{name} imports another stylesheet"
        for url in _CSS_URL.findall(text):
            assert url.startswith("data:") or same_origin_path(url), f"{name} loads {url}"
    elif name == "swagger-ui-bundle.js":
        assert found <= SWAGGER_UI_NAMES_ONLY, (
            f"{name}: new origins {found - SWAGGER_UI_NAMES_ONLY}"
        )
    else:
        assert not found, f"{name} names {sorted(found)}"
