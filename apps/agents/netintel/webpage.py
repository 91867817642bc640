"""A web page fetched through the egress helper and read: status, redirect chain, headers, title,
meta generator, outbound links and their domains, e-mail addresses and phone numbers."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

from apps.agents.indicators import extract_indicators, is_domain
from apps.core.egress import EgressResponse, egress_get

_PHONE = re.compile(r"(?<![\w+])\+\d{1,3}(?:[ .-]?\(?\d{1,4}\)?){2,5}(?![\w])")


class _PageParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.title: str | None = None
        self.generator: str | None = None
        self.description: str | None = None
        self.links: list[str] = []
        self.text: list[str] = []
        self._in_title = False
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {k.lower(): (v or "") for k, v in attrs}
        if tag == "title" and self.title is None:
            self._in_title = True
            self.title = ""
        elif tag in ("script", "style", "noscript"):
            self._skip += 1
        elif tag == "meta":
            name = attributes.get("name", "").lower()
            if name == "generator" and self.generator is None:
                self.generator = attributes.get("content", "").strip()
            elif name == "description" and self.description is None:
                self.description = attributes.get("content", "").strip()
        elif tag == "a" and attributes.get("href"):
            self.links.append(attributes["href"].strip())

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag in ("script", "style", "noscript") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if self._in_title and self.title is not None:
            self.title += data
        elif not self._skip:
            self.text.append(data)


def headers_dict(response: EgressResponse) -> dict[str, str]:
    """Header names lowercased; repeated headers joined the way HTTP allows (', '), except
    Set-Cookie, which is kept as a list elsewhere."""
    merged: dict[str, str] = {}
    for name, value in response.headers.multi_items():
        name = name.lower()
        merged[name] = f"{merged[name]}, {value}" if name in merged else value
    return merged


def read_page(response: EgressResponse, *, max_links: int = 200) -> dict[str, Any]:
    content_type = response.headers.get("content-type", "")
    page: dict[str, Any] = {
        "url": response.url,
        "status": response.status_code,
        "address": response.address,
        "redirect_chain": response.redirects,
        "headers": headers_dict(response),
        "content_type": content_type,
        "bytes": len(response.content),
        "truncated": response.truncated,
        "title": None,
        "generator": None,
        "description": None,
        "links": [],
        "outbound_domains": [],
        "emails": [],
        "phones": [],
    }
    if "html" not in content_type.lower() and not response.content.lstrip()[:15].lower().startswith(
        b"<!doctype html"
    ):
        return page
    parser = _PageParser()
    parser.feed(response.text)
    parser.close()
    page_host = (urlsplit(response.url).hostname or "").lower()
    links: list[str] = []
    emails: set[str] = set()
    phones: set[str] = set()
    for href in parser.links:
        lower = href.lower()
        if lower.startswith("mailto:"):
            address = unquote(href[7:].split("?")[0]).strip().lower()
            if "@" in address:
                emails.add(address)
        elif lower.startswith("tel:"):
            phones.add(re.sub(r"[^\d+]", "", unquote(href[4:])))
        elif not lower.startswith(("javascript:", "data:", "#")):
            absolute = urljoin(response.url, href)
            if urlsplit(absolute).scheme in ("http", "https") and absolute not in links:
                links.append(absolute)
    text = " ".join(" ".join(parser.text).split())
    for indicator in extract_indicators(text[:200_000]):
        if indicator.kind == "email":
            emails.add(indicator.value)
    for match in _PHONE.finditer(text):
        digits = re.sub(r"[^\d+]", "", match.group(0))
        if 8 <= len(digits) <= 16:
            phones.add(digits)
    outbound = sorted(
        {
            host
            for host in ((urlsplit(link).hostname or "").lower() for link in links)
            if host and host != page_host and is_domain(host)
        }
    )
    page.update(
        title=" ".join((parser.title or "").split()) or None,
        generator=parser.generator or None,
        description=parser.description or None,
        links=links[:max_links],
        links_total=len(links),
        outbound_domains=outbound,
        emails=sorted(emails),
        phones=sorted(phones),
        text_excerpt=text[:2000],
    )
    return page


def fetch_page(
    url: str,
    *,
    task_id: object,
    timeout: float,
    max_bytes: int,
    verify: bool | str = True,
    max_links: int = 200,
) -> dict[str, Any]:
    response = egress_get(url, task_id=task_id, timeout=timeout, max_bytes=max_bytes, verify=verify)
    return read_page(response, max_links=max_links)
