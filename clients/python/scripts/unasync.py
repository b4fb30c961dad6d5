"""Write ``_sync_client.py`` from ``_async_client.py``: the same code without async/await.

    python clients/python/scripts/unasync.py          # rewrite the file
    python clients/python/scripts/unasync.py --check  # exit 1 if it is out of date

One source for both clients keeps their surfaces identical (a test runs ``--check``).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "aftercare_client"
SOURCE = PACKAGE / "_async_client.py"
TARGET = PACKAGE / "_sync_client.py"

RULES: list[tuple[str, str]] = [
    (
        r'^"""The asynchronous client\..*?"""',
        '"""The synchronous client: GENERATED from ``_async_client.py`` by\n'
        '``scripts/unasync.py``; do not edit by hand."""',
    ),
    (r"\bimport asyncio\b", "import threading"),
    (r"\basyncio\.Lock\b", "threading.Lock"),
    (r"\basync_sleep\b", "sync_sleep"),
    (r"__a(enter|exit|iter|next)__", r"__\1__"),
    (r"\bStopAsyncIteration\b", "StopIteration"),
    (r"\baclose\b", "close"),
    (r"\bAsync([A-Z]\w*)", r"\1"),
    (r"\basync (def|with|for)\b", r"\1"),
    (r"\bawait ", ""),
    (r"for (\w+) in ([\w.]+):\n\s+yield \1\n", r"yield from \2\n"),
]


def convert(source: str) -> str:
    for pattern, replacement in RULES:
        source = re.sub(pattern, replacement, source, flags=re.DOTALL | re.MULTILINE)
    return _formatted(source)


def _formatted(source: str) -> str:
    """Through ``ruff format`` (the project's formatter) when it is installed."""
    ruff = Path(sys.executable).parent / "ruff"
    command = str(ruff) if ruff.exists() else shutil.which("ruff")
    if command is None:
        return source
    for args in (["check", "--fix", "--select", "I", "--quiet"], ["format"]):
        done = subprocess.run(  # noqa: S603 (our own ruff, our own source)
            [command, *args, "--stdin-filename", str(TARGET), "-"],
            input=source,
            capture_output=True,
            text=True,
            check=False,
        )
        source = done.stdout or source
    return source


def main(argv: list[str]) -> int:
    expected = convert(SOURCE.read_text())
    if "--check" in argv:
        if TARGET.read_text() != expected:
            print(f"{TARGET} is out of date: run {Path(__file__).name}", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(expected)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
