"""A client generated from openapi/openapi.json by a tool nobody here wrote (openapi-python-client,
in its own pinned environment ``.venv/codegen``: requirements/codegen.in) runs the partner
flow against the app on a real socket: tokens, a case, a consent, a referral accepted from the
inbox, a timeline update, the change feed, and refusals parsed as problems
(tests/generated_client_flow.py).

What it guards: a document that generates without a warning, and answers that parse into the
types the document promises. Earlier, an optional body documented as "object or null" made the
generated ``acceptReferral`` fail before sending, and an untyped token answer left clients
without a ``TokenOut``.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from tests.factories import Factory, Partner

ROOT = Path(__file__).resolve().parents[1]
CODEGEN = ROOT / ".venv" / "codegen" / "bin"
FLOW = ROOT / "tests" / "generated_client_flow.py"


async def _run(*command: str | Path, path: Path | None = None) -> tuple[int, str]:
    env = {**os.environ, "PYTHONPATH": str(path)} if path else None
    process = await asyncio.create_subprocess_exec(
        *command,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), 180)
    return process.returncode or 0, output.decode(errors="replace")


@pytest.fixture(scope="session")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    generator = CODEGEN / "openapi-python-client"
    if not generator.exists():  # `make setup` installs it; a bare `pip install -e .` does not
        pytest.fail(f"{generator} is missing: run `make setup`")
    out = tmp_path_factory.mktemp("generated")
    config = out / "config.yaml"
    config.write_text("post_hooks: []\n")  # (no formatter run over the generated code)
    return out, config


async def test_a_generated_client_runs_the_partner_flow(
    generated: tuple[Path, Path], served: str, lead: Partner, factory: Factory
) -> None:
    out, config = generated
    code, output = await _run(
        CODEGEN / "openapi-python-client",
        "generate",
        "--path",
        ROOT / "openapi" / "openapi.json",
        "--meta",
        "none",
        "--output-path",
        out / "aftercare_generated",
        "--overwrite",
        "--config",
        config,
    )
    assert code == 0, output
    assert "warning" not in output.lower(), output  # every operation and schema generated

    receiver = await factory.partner(name="Receiving Shelter")
    credentials = {
        name: {
            "org_id": str(p.org.id),
            "client_id": p.client.client_id,
            "client_secret": p.secret,
        }
        for name, p in (("lead", lead), ("receiver", receiver))
    }
    # In the generator's interpreter, with only the generated package added: as an integrator.
    code, output = await _run(CODEGEN / "python", FLOW, served, json.dumps(credentials), path=out)
    assert code == 0, output
    assert output.rstrip().endswith("flow: ok"), output
