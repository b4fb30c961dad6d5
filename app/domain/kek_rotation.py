"""``aftercare kek rotate``: move every data key and KEK-sealed blob (stored idempotent responses,
webhook signing secrets) under the current KEK.

Online: the service keeps serving during the rotation, because it knows the current KEK and the
previous ones (``AFTERCARE_KEK`` and ``AFTERCARE_KEK_PREVIOUS``) and unwraps each data key with the
KEK its ``case_keys.kek_id`` names. Resumable: keys are re-wrapped in batches, each committed on its
own; a key already under the current KEK is never touched again, so a rerun continues where an
interrupted run stopped. Verified: afterwards every data key is unwrapped with the current KEK
alone. The blind index of ``external_ref`` is keyed by its own secret, so nothing there changes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID

from app.db.database import Database
from app.db.repositories import case_keys as repo
from app.db.repositories import webhooks as webhook_repo
from app.domain.crypto import DecryptionFailed, KeyWrapper
from app.domain.webhooks import reseal_secrets

Progress = Callable[[str, int, int], None]  # (phase, done, total)
_START = UUID(int=0)


class RotationFailed(Exception):
    """The rotation cannot go on (a key under an unknown KEK, a blob that does not open...)."""


@dataclass(frozen=True, slots=True)
class RotationResult:
    kek_id: str
    case_keys: int
    rewrapped: int
    already_current: int
    sealed_blobs: int
    resealed: int
    verified: int
    webhook_secrets: int = 0  # subscriptions whose signing secrets were re-sealed


async def rotate(
    db: Database, wrapper: KeyWrapper, *, batch_size: int, progress: Progress
) -> RotationResult:
    current = wrapper.kek_id
    session = db.session(transactional=False)
    try:
        counts = await repo.counts(session, current)
        sealed_total = await repo.sealed_count(session)
    finally:
        await session.close()
    total, already = int(counts.total), int(counts.current)

    rewrapped = 0
    after = _START
    progress("case keys", already, total)
    while True:
        session = db.session(transactional=True)
        try:
            rows = await repo.stale_keys(session, current, after, batch_size)
            for row in rows:
                try:
                    wrapped = wrapper.rewrap(row.case_id, row.wrapped_key, row.kek_id)
                except DecryptionFailed as exc:
                    raise RotationFailed(
                        f"case key {row.case_id} (KEK {row.kek_id}) cannot be unwrapped: "
                        f"{exc}; is its KEK in AFTERCARE_KEK_PREVIOUS?"
                    ) from None
                await repo.rewrap(session, row.case_id, row.kek_id, wrapped, current)
            await session.commit()
        except BaseException:
            await session.rollback()
            raise
        finally:
            await session.close()
        if not rows:
            break
        rewrapped += len(rows)
        after = rows[-1].case_id
        progress("case keys", already + rewrapped, total)

    resealed = 0
    done = 0
    cursor = ("", "")
    progress("idempotency bodies", 0, sealed_total)
    while True:
        session = db.session(transactional=True)
        try:
            blobs = await repo.sealed_page(session, cursor, batch_size)
            for blob in blobs:
                context = f"{blob.client_id}:{blob.key}"
                body = bytes(blob.response_body)
                if wrapper.sealed_with_current("idempotency", context, body):
                    continue
                try:
                    plain = wrapper.open("idempotency", context, body)
                except DecryptionFailed:
                    raise RotationFailed(
                        f"a stored idempotent response of client {blob.client_id} cannot be "
                        "opened with any configured KEK"
                    ) from None
                sealed = wrapper.seal("idempotency", context, plain)
                await repo.reseal(session, blob.client_id, blob.key, sealed)
                resealed += 1
            await session.commit()
        except BaseException:
            await session.rollback()
            raise
        finally:
            await session.close()
        if not blobs:
            break
        done += len(blobs)
        cursor = (blobs[-1].client_id, blobs[-1].key)
        progress("idempotency bodies", done, max(sealed_total, done))

    webhook_secrets = await _reseal_webhook_secrets(db, wrapper, batch_size=batch_size)
    verified = await verify(db, wrapper.current_only(), batch_size=batch_size)
    return RotationResult(
        kek_id=current,
        case_keys=total,
        rewrapped=rewrapped,
        already_current=already,
        sealed_blobs=sealed_total,
        resealed=resealed,
        verified=verified,
        webhook_secrets=webhook_secrets,
    )


async def _reseal_webhook_secrets(db: Database, wrapper: KeyWrapper, *, batch_size: int) -> int:
    """Webhook signing secrets (sealed under the KEK) re-sealed under the current KEK."""
    resealed = 0
    after: UUID | None = None
    while True:
        session = db.session(transactional=True)
        try:
            rows = await webhook_repo.sealed_page(session, after, batch_size)
            for row in rows:
                try:
                    blobs = reseal_secrets(wrapper, row.id, row.secret_enc, row.previous_secret_enc)
                except DecryptionFailed:
                    raise RotationFailed(
                        f"the signing secret of webhook {row.id} cannot be opened with any "
                        "configured KEK"
                    ) from None
                if blobs is not None:
                    await webhook_repo.reseal(session, row.id, *blobs)
                    resealed += 1
            await session.commit()
        except BaseException:
            await session.rollback()
            raise
        finally:
            await session.close()
        if not rows:
            return resealed
        after = rows[-1].id


async def verify(db: Database, current: KeyWrapper, *, batch_size: int) -> int:
    """Unwrap every data key with the current KEK alone; the number verified."""
    verified = 0
    after = _START
    session = db.session(transactional=False)
    try:
        while rows := await repo.page(session, after, batch_size):
            for row in rows:
                if row.kek_id != current.kek_id:
                    raise RotationFailed(f"case key {row.case_id} is still under {row.kek_id}")
                try:
                    current.unwrap(row.case_id, row.wrapped_key, current.kek_id)
                except DecryptionFailed:
                    raise RotationFailed(
                        f"case key {row.case_id} does not unwrap with the current KEK"
                    ) from None
                verified += 1
            after = rows[-1].case_id
    finally:
        await session.close()
    return verified
