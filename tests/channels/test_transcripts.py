"""Transcripts of voice messages for staff (issue 14), through the same interface a Vosk
model is used by: a stub recogniser stands in for the model (no model is installed in CI).
The transcript goes on the card below the audio, never instead of it; each message is
transcribed once even with two workers; with no model nothing runs."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings, VoiceSettings
from bot.media import MediaStore
from bot.voice import Transcriber, make_transcriber, problems
from handlers.i18n import to_plain, translator
from handlers.outbound.cards import load_card_request, render_card
from models.domain.outbox import OutboxKind, OutboxMessage
from models.domain.requests import NewRequest, submit_request
from models.domain.residents import get_or_create_resident
from tests.desk_settings import LIGHTING_CHAT, desk_settings

SAID = "біля школи не світить ліхтар уже тиждень"


class StubRecognizer:
    """Stands in for Vosk: "recognises" the file's text, and counts its calls."""

    def __init__(self) -> None:
        self.heard: list[Path] = []

    async def transcribe(self, audio: Path) -> str:
        self.heard.append(audio)
        data = await asyncio.to_thread(audio.read_bytes)
        return data.decode().removeprefix("AUDIO:")


async def file_spoken(
    sessions: async_sessionmaker[AsyncSession], media: MediaStore, cfg: Settings
) -> int:
    ref = await media.save("viber", "token42.m4a", f"AUDIO:{SAID}".encode())
    async with sessions() as session, session.begin():
        person = await get_or_create_resident(session, "viber", "spoken==", "Resident")
        req = await submit_request(
            session,
            person,
            NewRequest(
                category="lighting",
                subcategory=None,
                department="lighting",
                address="вул. Шевченка, 10",
                description="",
                voice=ref,
                voice_seconds=42,
            ),
        )
        return req.id


async def test_a_transcript_goes_on_the_card_below_the_audio_once(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, tmp_path: Path
) -> None:
    cfg = desk_settings(settings, operators_chat=None)
    media = MediaStore({"viber": str(tmp_path)})
    request_id = await file_spoken(sessions, media, cfg)
    stub = StubRecognizer()
    # Two workers scanning at once: the message is transcribed once.
    one = Transcriber(sessions, cfg.desk_chats, media, stub)
    two = Transcriber(sessions, cfg.desk_chats, media, stub)
    assert await one.run_once() + await two.run_once() == 1
    assert len(stub.heard) == 1
    async with sessions() as session:
        req = await load_card_request(session, request_id)
        assert req is not None and req.voice_transcript == SAID
        card = render_card(cfg, translator(), req)
        refreshed = (
            (
                await session.execute(
                    select(OutboxMessage).where(
                        OutboxMessage.kind == OutboxKind.CARD,
                        OutboxMessage.recipient == str(LIGHTING_CHAT),
                    )
                )
            )
            .scalars()
            .all()
        )
    text = to_plain(card.text)
    assert card.voice == req.voice, "the audio stays on the card"
    assert text.index("Voice message") < text.index(SAID)
    assert "may contain mistakes" in text
    assert refreshed, "the department's card is refreshed with it"


async def test_a_recogniser_that_fails_leaves_the_card_without_a_transcript(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, tmp_path: Path
) -> None:
    class Broken:
        async def transcribe(self, audio: Path) -> str:
            raise RuntimeError("ffmpeg: invalid data")

    cfg = desk_settings(settings, operators_chat=None)
    media = MediaStore({"viber": str(tmp_path)})
    await file_spoken(sessions, media, cfg)
    transcriber = Transcriber(sessions, cfg.desk_chats, media, Broken())
    assert await transcriber.run_once() == 1
    assert await transcriber.run_once() == 0, "not retried for ever"


def test_without_a_model_nothing_runs_and_a_wrong_setup_is_reported(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    assert make_transcriber(sessions, VoiceSettings(), lambda d: [], MediaStore()) is None
    assert problems(VoiceSettings()) == []
    found = problems(VoiceSettings(model_path=str(tmp_path / "none"), ffmpeg="no-such-ffmpeg"))
    assert any("no Vosk model directory" in p for p in found)
    assert any("no-such-ffmpeg not found" in p for p in found)
