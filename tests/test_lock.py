"""The lock files pin every dependency pyproject.toml names, and this environment runs them."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^([A-Za-z0-9_.-]+)==([^ \\]+)", re.MULTILINE)


def _name(requirement: str) -> str:
    return re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _pins(lock: str) -> dict[str, str]:
    text = (ROOT / "requirements" / lock).read_text()
    return {m[1].lower().replace("_", "-"): m[2] for m in PIN.finditer(text)}


PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


@pytest.mark.parametrize(
    ("lock", "requirements"),
    [
        ("runtime.lock", PROJECT["dependencies"]),
        ("dev.lock", PROJECT["dependencies"] + PROJECT["optional-dependencies"]["dev"]),
    ],
)
def test_every_dependency_is_pinned_with_hashes(lock: str, requirements: list[str]) -> None:
    pins = _pins(lock)
    missing = sorted({_name(r) for r in requirements} - set(pins))
    assert not missing, f"run `make lock`: {missing} not in requirements/{lock}"
    text = (ROOT / "requirements" / lock).read_text()
    assert text.count("==") == text.count("==") and "--hash=sha256:" in text


def test_the_runtime_lock_is_a_subset_of_the_dev_lock() -> None:
    runtime, dev = _pins("runtime.lock"), _pins("dev.lock")
    assert {n: v for n, v in dev.items() if n in runtime} == runtime


def test_this_environment_runs_the_locked_versions() -> None:
    wrong = {}
    for name, version in _pins("dev.lock").items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue  # a dependency behind a marker that does not apply here
        if installed != version:
            wrong[name] = (installed, version)
    assert not wrong, f"installed vs locked (run `make setup`): {wrong}"
