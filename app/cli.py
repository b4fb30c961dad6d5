"""The ``aftercare`` command (also ``python -m app``).

Commands that create something print one JSON object on stdout; errors go to stderr with a
non-zero exit code.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any, NamedTuple, TypeVar
from uuid import UUID

import orjson
import typer
from pydantic import ValidationError

from app.db.database import Database, Session
from app.db.errors import DatabaseUnavailable, is_connection_error
from app.domain.errors import DomainError
from app.domain.keys import KeyRing
from app.settings import Settings

T = TypeVar("T")

cli = typer.Typer(
    name="aftercare",
    help="Aftercare Exchange: serve the hub and administer partners, clients and keys.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_cli = typer.Typer(help="Database migrations.", no_args_is_help=True)
org_cli = typer.Typer(help="Partner organisations.", no_args_is_help=True)
client_cli = typer.Typer(help="OAuth clients of partner organisations.", no_args_is_help=True)
keys_cli = typer.Typer(help="Token signing keys.", no_args_is_help=True)
cli.add_typer(db_cli, name="db")
cli.add_typer(org_cli, name="org")
cli.add_typer(client_cli, name="client")
cli.add_typer(keys_cli, name="keys")
kek_cli = typer.Typer(help="The key-encryption key (KEK) of survivor data.", no_args_is_help=True)
cli.add_typer(kek_cli, name="kek")
demo_cli = typer.Typer(help="Fictional demo data (development only).", no_args_is_help=True)
cli.add_typer(demo_cli, name="demo")


def _print_json(value: Any) -> None:
    sys.stdout.write(orjson.dumps(value).decode() + "\n")
    sys.stdout.flush()


def _fail(message: str, code: int = 1) -> typer.Exit:
    sys.stderr.write(f"error: {message}\n")
    return typer.Exit(code)


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:  # show what is wrong, not a traceback
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}" for e in exc.errors()
        )
        raise _fail(f"invalid settings: {problems}", 2) from None


def _database_url(settings: Settings) -> str:
    from app.db.bootstrap import database_url_for

    return database_url_for(settings)


def _in_session(settings: Settings, work: Callable[[Session], Awaitable[T]]) -> T:
    async def run() -> T:
        db = Database(
            _database_url(settings), min_size=0, max_size=2, audit_chains=settings.audit_chains
        )
        await db.connect()
        session = db.session(transactional=True)
        try:
            result = await work(session)
            await session.commit()
            return result
        except BaseException:
            await session.rollback()
            raise
        finally:
            await session.close()
            await db.close()

    try:
        return asyncio.run(run())
    except DomainError as exc:
        raise _fail(exc.detail) from None
    except Exception as exc:
        if isinstance(exc, DatabaseUnavailable) or is_connection_error(exc):
            raise _fail("database unavailable") from None
        raise


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
    demo: Annotated[bool, typer.Option("--demo", help="Seed fictional demo partners")] = False,
    worker: Annotated[
        bool | None,
        typer.Option(
            "--worker/--no-worker",
            help="Also run one webhook/timed-jobs worker (in one of the server processes) "
            "(default: yes in development, no in production)",
        ),
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            min=1,
            max=64,
            help="Server processes on the one port (each with its own database pool of up to "
            "AFTERCARE_DB_POOL_MAX_SIZE connections)",
        ),
    ] = 1,
) -> None:
    """Apply migrations, then serve the API (in development with one in-process worker)."""
    import uvicorn

    from app.api.http_server import RenewedConnections

    settings = _settings()
    if demo and not settings.is_development:
        raise _fail("--demo is for development only")
    if "AFTERCARE_ISSUER" not in os.environ:
        # Tokens name the address partners actually use to reach this server.
        public_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104
        settings = settings.model_copy(update={"issuer": f"http://{public_host}:{port}"})
    url = _database_url(settings)
    _migrate(url)
    if demo:
        from app import demo as demo_data

        async def seed() -> list[dict[str, Any]]:
            db = Database(url, min_size=0, max_size=2)
            await db.connect()
            try:
                return await demo_data.seed(db, settings.data_dir)
            finally:
                await db.close()

        partners = asyncio.run(seed())
        sys.stdout.write(demo_data.banner(partners, settings.issuer) + "\n")
        sys.stdout.flush()
    run_worker = settings.is_development if worker is None else worker
    # uvicorn re-raises SIGTERM after its graceful shutdown; turn that into a normal exit so the
    # embedded PostgreSQL is stopped cleanly below instead of being orphaned. (With several
    # processes uvicorn's supervisor takes SIGTERM over: it stops the server processes and
    # returns.)
    signal.signal(signal.SIGTERM, _exit_on_signal)
    metrics_dir: _MetricsDir | None = None
    server: dict[str, Any] = {
        "host": host,
        "port": port,
        "http": RenewedConnections,
        "log_config": None,
        "access_log": False,
        "proxy_headers": False,
    }
    try:
        if workers == 1:
            from app.main import create_app

            metrics_dir = _metrics_dir(created=False)
            uvicorn.run(create_app(settings, worker=run_worker), **server)
        else:
            metrics_dir = _metrics_dir(created=True)
            _prepare_processes(settings, url, metrics_dir, run_worker)
            uvicorn.run("app.main:app_from_env", factory=True, workers=workers, **server)
    finally:
        from app.db.bootstrap import stop_embedded

        stop_embedded()
        if metrics_dir is not None and metrics_dir.owned:
            shutil.rmtree(metrics_dir.path, ignore_errors=True)


class _MetricsDir(NamedTuple):
    path: Path
    owned: bool  # made by this command (removed when it exits), not the operator's


def _metrics_dir(*, created: bool) -> _MetricsDir | None:
    """prometheus_client's multiprocess directory: ``PROMETHEUS_MULTIPROC_DIR`` when set
    (cleared of what processes no longer running left there), else a fresh one when
    ``created`` (several server processes), else none (one process: its own registry)."""
    from app.api.metrics import MULTIPROC_ENV, prune_dead_processes

    given = os.environ.get(MULTIPROC_ENV)
    if given:
        path = Path(given)
        path.mkdir(parents=True, exist_ok=True)
        prune_dead_processes(path)
        return _MetricsDir(path, owned=False)
    if not created:
        return None
    path = Path(tempfile.mkdtemp(prefix="aftercare-metrics-"))
    os.environ[MULTIPROC_ENV] = str(path)  # before any server process imports prometheus_client
    return _MetricsDir(path, owned=True)


def _prepare_processes(
    settings: Settings, url: str, metrics: _MetricsDir | None, run_worker: bool
) -> None:
    """What the server processes of ``serve --workers N`` (app.main.app_from_env) read from
    the environment: what this command worked out, and nothing they would race to create."""
    from app.domain.crypto import KekError
    from app.main import WORKER_LOCK_ENV

    # Development creates missing keys on first use: once, here, not in N processes at once.
    KeyRing(settings.resolved_keys_dir, create=settings.is_development)
    try:
        settings.key_wrapper()
    except KekError as exc:
        raise _fail(str(exc), 2) from None
    os.environ["AFTERCARE_ISSUER"] = settings.issuer
    # The embedded PostgreSQL (started here, stopped here) is reached by its URL.
    os.environ["AFTERCARE_DATABASE_URL"] = url
    if run_worker and metrics is not None:
        os.environ[WORKER_LOCK_ENV] = str(metrics.path / "in-process-worker.lock")
    else:
        os.environ.pop(WORKER_LOCK_ENV, None)


@cli.command("worker")
def worker_command(
    concurrency: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=1000,
            help="Webhook attempts in flight at once (default AFTERCARE_WORKER_CONCURRENCY)",
        ),
    ] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=65535,
            help="Serve this worker's metrics (Prometheus text) on this port at --metrics-host",
        ),
    ] = None,
    metrics_host: Annotated[
        str, typer.Option(help="Interface of --metrics-port (keep it private)")
    ] = "127.0.0.1",
) -> None:
    """Deliver webhooks and run the timed jobs (expiries, overdue visits, retention) until
    SIGTERM or SIGINT, which finish the attempts in flight and exit 0. Run as many as you like.

    Metrics: with PROMETHEUS_MULTIPROC_DIR (the servers' directory) the servers' /metrics
    includes this worker's; --metrics-port serves them itself."""
    from app.api.metrics import multiprocess_dir
    from app.domain.crypto import KekError
    from app.logging import configure_logging
    from app.worker import Worker, WorkerMetrics

    settings = _settings()
    configure_logging(settings.log_level, json=settings.log_json)
    try:
        key_wrapper = settings.key_wrapper()
    except KekError as exc:
        raise _fail(str(exc), 2) from None
    shared = multiprocess_dir()
    if shared is not None:
        shared.mkdir(parents=True, exist_ok=True)
    metrics = WorkerMetrics()
    if metrics_port is not None:
        from prometheus_client import start_http_server

        try:
            start_http_server(metrics_port, addr=metrics_host, registry=metrics.registry)
        except OSError as exc:
            raise _fail(f"cannot serve metrics on {metrics_host}:{metrics_port}: {exc}") from None

    async def run() -> None:
        # Claims, records and timed jobs: at most three statements at once.
        database = Database(
            _database_url(settings),
            min_size=0,
            max_size=4,
            connect_timeout=settings.db_connect_timeout_seconds,
            acquire_timeout=settings.db_acquire_timeout_seconds,
            application_name="aftercare-worker",
            audit_chains=settings.audit_chains,
        )
        await database.connect()
        worker = Worker(settings, database, key_wrapper, concurrency=concurrency, metrics=metrics)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, worker.stop)
        try:
            await worker.run()
        finally:
            await database.close()

    try:
        _run_fast(run())
    except Exception as exc:
        if isinstance(exc, DatabaseUnavailable) or is_connection_error(exc):
            raise _fail("database unavailable") from None
        raise
    finally:
        from app.db.bootstrap import stop_embedded

        stop_embedded()


def _run_fast(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` on uvloop when it is installed (it comes with uvicorn[standard]; the
    worker spends less CPU per webhook attempt on it), else on the standard event loop."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvicorn[standard] brings it on Linux and macOS
        return asyncio.run(main)
    return uvloop.run(main)


def _exit_on_signal(signum: int, frame: object) -> None:
    raise SystemExit(0)


def _migrate(url: str, revision: str = "head") -> str | None:
    """Apply migrations; a database that cannot be reached is a clear error, not a traceback."""
    from app.db.migrations import current_revision, upgrade
    from app.domain.crypto import DecryptionFailed, KekError

    try:
        upgrade(url, revision)
        return current_revision(url)
    except (KekError, DecryptionFailed) as exc:
        # Migration 0005 encrypts existing free text: it needs the KEK and blind-index secret.
        raise _fail(f"migration needs the encryption keys: {exc}") from None
    except Exception as exc:
        if is_connection_error(exc):
            raise _fail(f"database unavailable ({type(exc).__name__})") from None
        raise


@db_cli.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision")] = "head",
) -> None:
    """Apply Alembic migrations."""
    settings = _settings()
    reached = _migrate(_database_url(settings), revision)
    _print_json({"revision": reached})


@db_cli.command("prune")
def db_prune() -> None:
    """Delete expired revoked-token and idempotency records (safe to run from cron)."""
    from app.domain.maintenance import prune_expired

    counts = _in_session(_settings(), prune_expired)
    _print_json(counts)


@org_cli.command("create")
def org_create(
    name: Annotated[str, typer.Option(help="Organisation name")],
    kind: Annotated[str, typer.Option(help="Organisation kind, e.g. ngo_shelter")],
    country: Annotated[str | None, typer.Option(help="ISO 3166-1 alpha-2 country")] = None,
) -> None:
    """Register a partner organisation."""
    from app.domain.organizations import OrganizationService
    from app.domain.vocabulary import OrganizationKind

    try:
        org_kind = OrganizationKind(kind)
    except ValueError:
        raise _fail(
            f"unknown kind {kind!r}; one of: " + ", ".join(k.value for k in OrganizationKind)
        ) from None
    if country is not None and not (len(country) == 2 and country.isalpha() and country.isupper()):
        raise _fail("country must be an ISO 3166-1 alpha-2 code such as TH")
    if not name.strip() or len(name) > 200:
        raise _fail("name must be 1-200 characters")
    org = _in_session(
        _settings(),
        lambda s: OrganizationService(s).create(name=name.strip(), kind=org_kind, country=country),
    )
    _print_json({"id": str(org.id), "name": org.name, "kind": org.kind, "country": org.country})


@client_cli.command("create")
def client_create(
    org: Annotated[str, typer.Option("--org", help="Organisation id")],
    name: Annotated[str, typer.Option(help="Client name (the partner system)")],
    scopes: Annotated[str, typer.Option(help='Space-separated scopes, e.g. "cases:read"')],
) -> None:
    """Create an OAuth client; the secret is printed once and stored only as a hash."""
    from app.domain.clients import ClientService
    from app.domain.scopes import parse_scope

    try:
        org_id = UUID(org)
    except ValueError:
        raise _fail("--org must be an organisation id (UUID)") from None
    wanted = parse_scope(scopes)
    if not wanted:
        raise _fail("--scopes must name at least one scope")
    created = _in_session(
        _settings(), lambda s: ClientService(s).create(org_id=org_id, name=name, scopes=wanted)
    )
    _print_json(
        {
            "client_id": created.client.client_id,
            "client_secret": created.client_secret,
            "org_id": str(created.client.org_id),
            "scopes": created.client.scopes,
        }
    )


@client_cli.command("disable")
def client_disable(
    client_id: Annotated[str, typer.Argument(help="The client to disable")],
) -> None:
    """Disable a client: its tokens stop working on the next request; it gets no new ones."""
    from app.domain.clients import ClientService

    disabled = _in_session(_settings(), lambda s: ClientService(s).disable(client_id))
    _print_json({"client_id": client_id, "disabled_at": disabled.isoformat()})


@keys_cli.command("rotate")
def keys_rotate() -> None:
    """Create a new signing key; older public keys stay published until retired."""
    from app.domain.keys import generate_key, load_keyset

    settings = _settings()
    directory = settings.resolved_keys_dir
    kid = generate_key(directory)
    published = list(load_keyset(directory).verification)
    _print_json({"active_kid": kid, "published_kids": published})


@keys_cli.command("retire")
def keys_retire(
    kid: Annotated[
        str | None, typer.Option(help="Key to retire; default: every key but the active one")
    ] = None,
) -> None:
    """Stop publishing old public keys (tokens they signed stop verifying)."""
    from app.domain.keys import KeyStoreError, retire

    settings = _settings()
    try:
        retired = retire(settings.resolved_keys_dir, kid)
    except KeyStoreError as exc:
        raise _fail(str(exc)) from None
    _print_json({"retired_kids": retired})


@keys_cli.command("list")
def keys_list() -> None:
    """Show the active key and the published keys."""
    from app.domain.keys import KeyStoreError, load_keyset

    settings = _settings()
    try:
        keyset = load_keyset(settings.resolved_keys_dir)
    except KeyStoreError as exc:
        raise _fail(str(exc)) from None
    _print_json({"active_kid": keyset.active.kid, "published_kids": list(keyset.verification)})


class _ProgressBar:
    """A one-line progress bar on stderr (stdout stays one JSON object)."""

    WIDTH = 30

    def __init__(self) -> None:
        self.phase: str | None = None

    def __call__(self, phase: str, done: int, total: int) -> None:
        if self.phase is not None and phase != self.phase:
            sys.stderr.write("\n")
        self.phase = phase
        filled = self.WIDTH if total == 0 else self.WIDTH * min(done, total) // total
        bar = "#" * filled + "." * (self.WIDTH - filled)
        sys.stderr.write(f"\r{phase:<20} [{bar}] {done}/{total}")
        sys.stderr.flush()

    def close(self) -> None:
        if self.phase is not None:
            sys.stderr.write("\n")
            sys.stderr.flush()


@kek_cli.command("rotate")
def kek_rotate(
    batch_size: Annotated[
        int, typer.Option(min=1, max=10_000, help="Keys re-wrapped per committed batch")
    ] = 500,
) -> None:
    """Re-wrap every case data key (and re-seal every stored response) under AFTERCARE_KEK.

    Set AFTERCARE_KEK to the new KEK and AFTERCARE_KEK_PREVIOUS to the old one(s), restart the
    service (it reads with both), then run this. It works online and in committed batches: if it
    stops, run it again and it continues. It verifies every key with the new KEK at the end; then
    AFTERCARE_KEK_PREVIOUS can be removed.
    """
    from app.domain.crypto import KekError
    from app.domain.kek_rotation import RotationFailed, rotate

    settings = _settings()
    try:
        wrapper = settings.key_wrapper()
    except KekError as exc:
        raise _fail(str(exc), 2) from None
    url = _database_url(settings)
    bar = _ProgressBar()

    async def run() -> Any:
        db = Database(url, min_size=0, max_size=2)
        await db.connect()
        try:
            return await rotate(db, wrapper, batch_size=batch_size, progress=bar)
        finally:
            await db.close()

    try:
        result = asyncio.run(run())
    except RotationFailed as exc:
        bar.close()
        raise _fail(
            f"kek rotation stopped: {exc}; committed batches stay, rerun to resume"
        ) from None
    except Exception as exc:
        bar.close()
        if is_connection_error(exc):
            raise _fail("database unavailable; committed batches stay, rerun to resume") from None
        raise
    bar.close()
    _print_json(
        {
            "kek_id": result.kek_id,
            "case_keys": result.case_keys,
            "rewrapped": result.rewrapped,
            "already_current": result.already_current,
            "idempotency_bodies": result.sealed_blobs,
            "resealed": result.resealed,
            "webhook_secrets": result.webhook_secrets,
            "verified": result.verified,
        }
    )


@demo_cli.command("seed")
def demo_seed(
    cases: Annotated[
        int, typer.Option(min=1, max=1_000_000, help="Fictional cases to create")
    ] = 1000,
    referrals_per_case: Annotated[
        int, typer.Option(min=0, max=50, help="Referrals per case, in every status")
    ] = 10,
    batch_size: Annotated[
        int, typer.Option(min=1, max=100_000, help="Cases built and copied per batch")
    ] = 1000,
) -> None:
    """Fill an empty database with a large fictional data set (development only).

    Twenty fictional demo partners (credentials in <data_dir>/demo-credentials.json, as with
    `serve --demo`) and CASES survivors with encrypted identities, consents, referrals in every
    status, care-team memberships, legal records and events, copied in bulk in one transaction,
    then VACUUM (ANALYZE). A database that already holds cases is refused and left as it is.
    """
    from app import demo_seed as bulk_seed
    from app.domain.crypto import KekError

    settings = _settings()
    if not settings.is_development:
        raise _fail("demo seed is for development only")
    try:
        wrapper = settings.key_wrapper()
    except KekError as exc:
        raise _fail(str(exc), 2) from None
    url = _database_url(settings)
    _migrate(url)
    bar = _ProgressBar()

    async def run() -> Any:
        db = Database(url, min_size=0, max_size=2)
        await db.connect()
        try:
            return await bulk_seed.seed(
                db,
                settings.data_dir,
                wrapper,
                cases=cases,
                referrals_per_case=referrals_per_case,
                batch_size=batch_size,
                progress=bar,
            )
        finally:
            await db.close()

    try:
        result = asyncio.run(run())
    except bulk_seed.AlreadySeeded as exc:
        bar.close()
        raise _fail(str(exc)) from None
    except Exception as exc:
        bar.close()
        if is_connection_error(exc):
            raise _fail("database unavailable; nothing was seeded") from None
        raise
    bar.close()
    _print_json(
        {
            "partners": len(result.partners),
            "cases": result.cases,
            "referrals": result.referrals,
            "care_team_memberships": result.members,
            "consents": result.consents,
            "legal_records": result.legal_records,
            "events": result.events,
            "seconds": result.seconds,
            "credentials": str(settings.data_dir / "demo-credentials.json"),
        }
    )


audit_cli = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)
cli.add_typer(audit_cli, name="audit")


@audit_cli.command("verify")
def audit_verify(
    anchor: Annotated[
        Path | None,
        typer.Option(
            help="A file written by `aftercare audit anchor`: also check that every row it "
            "anchored is still there, unchanged"
        ),
    ] = None,
) -> None:
    """Recompute every audit hash chain; exit 1 naming the first broken row."""
    from app.domain.audit import check_anchor, verify_chains
    from app.domain.jwt import TokenRejected

    settings = _settings()
    result = _in_session(settings, verify_chains)
    if result.first_break is not None:
        _chain_broken(result.first_break, {"chains": result.chains, "rows_checked": result.rows})
    summary: dict[str, Any] = {"ok": True, "chains": result.chains, "rows_checked": result.rows}
    if anchor is not None:
        try:
            token = _anchor_token(anchor.read_text())
        except (OSError, ValueError) as exc:
            raise _fail(f"cannot read the anchor: {type(exc).__name__}", 2) from None
        keyring = KeyRing(settings.resolved_keys_dir, create=False)
        try:
            checked = _in_session(
                settings, lambda session: check_anchor(session, token, keyring.find)
            )
        except TokenRejected as exc:
            raise _fail(f"the anchor is not a valid signed anchor: {exc}", 1) from None
        except ValueError as exc:
            raise _fail(f"the anchor's heads are malformed: {exc}", 1) from None
        if checked.first_break is not None:
            _chain_broken(checked.first_break, {"anchored_heads": checked.heads})
        summary["anchored_heads"] = checked.heads
        summary["anchored_at"] = checked.anchored_at.isoformat()
    _print_json(summary)


def _chain_broken(broken: Any, extra: dict[str, Any]) -> None:
    sys.stderr.write(
        f"audit chain broken: org_id={broken.org_id} chain={broken.chain} seq={broken.seq}: "
        f"{broken.reason}\n"
    )
    _print_json(
        {
            "ok": False,
            **extra,
            "first_break": {
                "org_id": str(broken.org_id),
                "chain": broken.chain,
                "seq": broken.seq,
                "reason": broken.reason,
            },
        }
    )
    raise typer.Exit(1)


def _anchor_token(text: str) -> str:
    """The signed anchor in what `audit anchor` printed (its JSON, or the bare token)."""
    text = text.strip()
    if text.startswith("{"):
        value = orjson.loads(text).get("anchor")
        if not isinstance(value, str):
            raise ValueError("no anchor in the file")
        return value
    return text


@audit_cli.command("anchor")
def audit_anchor() -> None:
    """Print the signed heads of every audit chain (JSON), to keep outside the database.

    Later, `aftercare audit verify --anchor FILE` proves that no row up to those heads was
    changed or removed since, even by someone who rewrote whole chains in the database.
    """
    from app.domain.audit import anchor

    settings = _settings()
    keyring = KeyRing(settings.resolved_keys_dir, create=False)
    try:
        key = keyring.signing_key()
    except Exception:
        raise _fail("no signing key: run `aftercare keys rotate` first", 2) from None
    made = _in_session(settings, lambda session: anchor(session, key, settings.issuer))
    # `anchor` is the proof; `heads` repeats its claims to be read without decoding it.
    heads = [
        {"org_id": org, "chain": chain, "seq": seq, "hash": digest}
        for org, chain, seq, digest in made.heads
    ]
    _print_json({"anchored_at": made.anchored_at.isoformat(), "heads": heads, "anchor": made.token})


def main() -> None:
    cli()
