"""The development docs pages (Swagger UI, ReDoc) come from vendored files, never a CDN."""

from __future__ import annotations

import hashlib
import re
import tomllib
from pathlib import Path

import httpx

from app.api.docs import ASSETS, STATIC
from tests.helpers import assert_problem

ROOT = Path(__file__).resolve().parents[2]
OURS = {"swagger-init.js", "redoc-init.js"}


async def test_pages_reference_only_local_assets_under_a_strict_policy(
    client: httpx.AsyncClient,
) -> None:
    for page in ("/docs", "/redoc"):
        response = await client.get(page, headers={"Accept": "text/html"})
        assert response.status_code == 200
        policy = response.headers["content-security-policy"]
        assert "default-src 'self'" in policy
        assert "script-src 'self';" in policy
        assert "connect-src 'self'" in policy
        sources = re.findall(r'(?:src|href)="([^"]+)"', response.text)
        assert sources
        assert all(s.startswith("docs/assets/") for s in sources), sources
        for source in sources:
            asset = await client.get("/" + source)
            assert asset.status_code == 200, source
            assert asset.headers["content-type"].startswith(ASSETS[source.rsplit("/", 1)[1]])


async def test_only_the_listed_assets_are_served(client: httpx.AsyncClient) -> None:
    for name in ("README.md", "docs.html", "..%2Fdocs.py", "LICENSE.redoc"):
        assert_problem(await client.get(f"/docs/assets/{name}"), 404, "not_found")


def test_init_scripts_name_no_other_host() -> None:
    for name in OURS:
        assert "http" not in (STATIC / name).read_text(), name


def test_vendored_assets_match_their_recorded_checksums_and_keep_their_licences() -> None:
    readme = (STATIC / "README.md").read_text()
    recorded = dict(
        (name, digest) for digest, name in re.findall(r"^([0-9a-f]{64})  (\S+)$", readme, re.M)
    )
    assert set(recorded) == set(ASSETS) - OURS
    for name, digest in recorded.items():
        assert hashlib.sha256((STATIC / name).read_bytes()).hexdigest() == digest, name
    assert "Apache License" in (STATIC / "LICENSE.swagger-ui").read_text()
    assert "MIT License" in (STATIC / "LICENSE.redoc").read_text()


def test_assets_are_package_data() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "api/static/*" in pyproject["tool"]["setuptools"]["package-data"]["app"]
