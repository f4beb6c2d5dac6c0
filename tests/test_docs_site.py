"""The reference site builds strictly; every public name is in the reference and a guide."""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PACKAGES = [
    "actorlib",
    "actorlib.patterns",
    "actorlib.jobs",
    "actorlib.remote",
    "actorlib.testing",
    "actorlib.observability",
    "actorlib.cluster",
    "actorlib.dashboard",
]
PAGES = {package: DOCS / "reference" / f"{package.split('.')[-1]}.md" for package in PACKAGES}
PAGES["actorlib"] = DOCS / "reference" / "index.md"
GUIDES = [
    "tutorial.md",
    "guide.md",
    "jobs.md",
    "remote.md",
    "security.md",
    "testing.md",
    "observability.md",
    "cluster.md",
    "dashboard.md",
]


def public_names(package: str) -> list[str]:
    return list(importlib.import_module(package).__all__)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-f", "mkdocs.yml", "-d", out],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert result.returncode == 0, result.stderr
    return out


@pytest.mark.slow
def test_the_site_builds_strictly_with_every_page(site: Path) -> None:
    for page in ["index.html", "tutorial/index.html", "guide/index.html", "jobs/index.html"]:
        assert (site / page).is_file(), page


@pytest.mark.parametrize("package", PACKAGES)
def test_each_reference_page_lists_exactly_the_package_all(package: str) -> None:
    text = PAGES[package].read_text()
    assert f"::: {package}\n" in text
    listed = re.findall(r"^ {8}- (\w+)$", text, re.MULTILINE)
    assert listed == public_names(package)


@pytest.mark.slow
@pytest.mark.parametrize("package", PACKAGES)
def test_every_public_name_is_rendered_in_its_reference_page(package: str, site: Path) -> None:
    page = PAGES[package].relative_to(DOCS).with_suffix("")
    html = (site / (page.parent if page.name == "index" else page) / "index.html").read_text()
    missing = [n for n in public_names(package) if f'id="{package}.{n}"' not in html]
    assert not missing, f"{package}: not rendered: {missing}"


@pytest.mark.parametrize("package", PACKAGES)
def test_every_public_name_is_mentioned_in_a_guide(package: str) -> None:
    text = "\n".join((DOCS / guide).read_text() for guide in GUIDES)
    missing = [n for n in public_names(package) if not re.search(rf"(?<![\w.]){n}\b", text)]
    assert not missing, f"{package}: no guide mentions {missing}"
