"""README.md's "Five minutes as a partner", run as a newcomer runs it: its ``sh`` blocks, in order
and as written, in one bash (``set -euo pipefail``) with ``curl``, ``python3`` and GNU ``date``,
against the app served on a socket with the demo partners of ``make run``. The only line added
is the one the README itself asks for when the server is elsewhere: ``BASE`` and ``CREDS`` set to
this server's address and credentials file after the first block.

Each block's output is checked against what the README says it shows, so the walk-through
cannot drift from the API (a renamed field, a changed status, a step that needs a variable made
later) without this test failing."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest

from app import demo
from app.db.database import Database
from app.settings import Settings

README = Path(__file__).resolve().parents[1] / "README.md"
SECTION = "## Five minutes as a partner"
MARK = "::end of block::"

pytestmark = pytest.mark.skipif(
    not all(shutil.which(tool) for tool in ("bash", "curl", "python3", "date")),
    reason="the walk-through needs bash, curl, python3 and date",
)


def walkthrough_blocks(markdown: str) -> list[str]:
    """The ``sh`` blocks of the walk-through section, in order."""
    section = markdown.split(SECTION, 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^```sh\n(.*?)^```", section, flags=re.MULTILINE | re.DOTALL)


def answers(output: str) -> list[Any]:
    """What one block printed: each JSON value (``curl -s`` prints them back to back, without
    newlines), and each other line as a string."""
    values: list[Any] = []
    decoder = json.JSONDecoder()
    at = 0
    while at < len(output):
        if output[at].isspace():
            at += 1
        elif output[at] in "{[":
            value, at = decoder.raw_decode(output, at)
            values.append(value)
        else:
            end = output.find("\n", at)
            end = len(output) if end < 0 else end
            values.append(output[at:end])
            at = end
    return values


def _problem(value: Any) -> bool:
    kind = value.get("type", "") if isinstance(value, dict) else ""
    return str(kind).startswith("urn:aftercare:problem")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # As `make run`: webhooks may point at 127.0.0.1 (the README subscribes a local receiver).
    return settings.model_copy(update={"webhook_allow_private_networks": True})


def test_the_walkthrough_is_found() -> None:
    blocks = walkthrough_blocks(README.read_text())
    assert len(blocks) == 13, "the walk-through's blocks changed: update the checks below"
    assert blocks[0].startswith("BASE=") and "CREDS=" in blocks[0]


async def test_the_readme_walkthrough_works_as_pasted(
    served: str, database: Database, tmp_path: Path
) -> None:
    await demo.seed(database, tmp_path)  # what `make run` does: the four demo partners
    blocks = walkthrough_blocks(README.read_text())
    script = ["set -euo pipefail"]
    for i, block in enumerate(blocks):
        script.append(block)
        if i == 0:  # "If you started the server with PORT or DATA_DIR, change BASE and CREDS"
            script.append(f"BASE={served}\nCREDS={tmp_path / 'demo-credentials.json'}")
        script.append(f'echo; echo "{MARK}"')
    process = await asyncio.create_subprocess_exec(
        "bash",
        "-c",
        "\n".join(script),
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=120)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    printed = stdout.decode()
    assert process.returncode == 0, f"the walk-through stopped:\n{stderr.decode()}\n{printed}"
    outputs = [answers(part) for part in printed.split(MARK + "\n")[:-1]]
    assert len(outputs) == len(blocks)
    (
        helpers,
        tokens,
        directory,
        opened,
        consent,
        referred,
        inbox,
        accepted,
        update,
        case_read,
        clinic,
        feed,
        webhook,
    ) = outputs

    assert helpers == [] and tokens == [] and clinic == []  # these blocks only set variables

    me, found = directory
    assert me["name"] == "Harbor Light Shelter (demo)" and me["version"] == 1
    assert "Provincial Recovery Centre (demo)" in {org["name"] for org in found["items"]}

    (case_id,) = opened
    uuid.UUID(case_id)
    (granted,) = consent
    assert granted["status"] == "active"
    assert sorted(granted["granted_by"]) == ["guardian", "survivor"]
    (referral_id,) = referred
    uuid.UUID(referral_id)

    pending, hidden = inbox
    (preview,) = [item for item in pending["items"] if item["id"] == referral_id]
    assert preview["status"] == "pending"
    assert preview["preview"]["age_band"] == "15-17" and preview["preview"]["is_minor"] is True
    assert hidden["status"] == 404 and hidden["code"] == "not_found"

    (answer,) = accepted
    assert answer["status"] == "accepted" and answer["direction"] == "incoming"
    assert answer["version"] == 2
    (posted,) = update
    assert posted["kind"] == "service_delivered" and posted["category"] == "medical"

    (seen,) = case_read
    assert seen["role"] == "care_team" and seen["is_minor"] is True
    assert set(seen["visible_categories"]) == {"demographics", "medical", "general"}
    assert "external_ref" not in seen and "guardian" not in seen
    assert seen["survivor"] == {  # as the README shows it: no name, no birth year
        "gender": "female",
        "nationality": None,
        "languages": ["lo", "th"],
        "interpreter_needed": False,
    }

    (events,) = feed
    types = [event["type"] for event in events["items"]]
    assert "case.access_granted" in types

    receiver_line, ping = webhook
    assert re.fullmatch(
        r"AFTERCARE_WEBHOOK_SECRET=\S+ \.venv/bin/python examples/webhook_receiver\.py",
        receiver_line,
    )
    assert not _problem(ping), ping

    # Only the one refusal the README shows (the case before the referral is accepted).
    refusals = [value for output in outputs for value in output if _problem(value)]
    assert refusals == [hidden]
