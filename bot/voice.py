"""Transcripts of residents' voice messages, for staff (issue 14): optional, local, offline.

With ``[voice] model_path`` pointing at a Vosk model directory (e.g. Ukrainian,
alphacephei.com/vosk/models), each voice message a request carries is decoded with ffmpeg and
recognised on this machine; the text goes on the department's card below the audio, marked
as a transcript that may be wrong, never instead of the audio. Without a model nothing of this
runs and voice messages work as they are.

Each request is claimed before it is transcribed (``voice_transcript`` from NULL to ""), so
two workers never transcribe the same one and a failure is not retried forever: the card
simply has no transcript.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.channels.telegram.updates import AUDIO_KIND
from bot.config import VoiceSettings
from bot.media import MediaStore
from models.domain.base import utcnow
from models.domain.lifecycle import card_refresh
from models.domain.tables import Request

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000


class Recognizer(Protocol):
    async def transcribe(self, audio: Path) -> str:
        """What was said in the audio file ("" when nothing was recognised)."""
        ...


class VoskRecognizer:
    """Vosk (Kaldi) on this machine: the model is loaded once, on first use."""

    def __init__(self, cfg: VoiceSettings) -> None:
        self.cfg = cfg
        self._model: Any = None

    async def transcribe(self, audio: Path) -> str:
        pcm = await self._decode(audio)
        return await asyncio.to_thread(self._recognise, pcm)

    async def _decode(self, audio: Path) -> bytes:
        proc = await asyncio.create_subprocess_exec(
            *(self.cfg.ffmpeg, "-nostdin", "-loglevel", "error", "-i", str(audio)),
            *("-ar", str(SAMPLE_RATE), "-ac", "1", "-f", "s16le", "-"),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"ffmpeg: {err.decode(errors='replace')[:200]}")
        return out

    def _recognise(self, pcm: bytes) -> str:
        import vosk  # optional: only where a model is configured (README: Voice messages)

        if self._model is None:
            vosk.SetLogLevel(-1)
            self._model = vosk.Model(self.cfg.model_path)
        rec = vosk.KaldiRecognizer(self._model, SAMPLE_RATE)
        for start in range(0, len(pcm), 8000):
            rec.AcceptWaveform(pcm[start : start + 8000])
        return str(json.loads(rec.FinalResult()).get("text", "")).strip()


def problems(cfg: VoiceSettings) -> list[str]:
    """What ``check-config`` reports about a configured model."""
    if not cfg.model_path:
        return []
    found = []
    if not Path(cfg.model_path).is_dir():
        found.append(f"voice.model_path: no Vosk model directory at {cfg.model_path}")
    if shutil.which(cfg.ffmpeg) is None:
        found.append(f"voice.ffmpeg: {cfg.ffmpeg} not found (apt install ffmpeg)")
    try:
        import vosk  # noqa: F401
    except ImportError:
        found.append("voice.model_path is set but vosk is not installed (pip install vosk)")
    return found


class Transcriber:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        desk_chats: Any,
        media: MediaStore,
        recognizer: Recognizer,
        timeout: float = 120.0,
    ) -> None:
        self.sessions = sessions
        self.desk_chats = desk_chats  # department -> its desk chats (Settings.desk_chats)
        self.media = media
        self.recognizer = recognizer
        self.timeout = timeout

    async def run_once(self, limit: int = 5) -> int:
        """Transcribe up to ``limit`` waiting voice messages; how many were taken."""
        async with self.sessions() as session:
            rows = (
                await session.execute(
                    select(Request.id, Request.voice, Request.channel)
                    .where(Request.voice.is_not(None), Request.voice_transcript.is_(None))
                    .order_by(Request.id)
                    .limit(limit)
                )
            ).all()
        taken = 0
        for request_id, ref, channel in rows:
            if await self._claim(request_id):
                taken += 1
                await self._transcribe(request_id, str(ref), str(channel))
        return taken

    async def _claim(self, request_id: int) -> bool:
        async with self.sessions() as session, session.begin():
            result = await session.execute(
                update(Request)
                .where(Request.id == request_id, Request.voice_transcript.is_(None))
                .values(voice_transcript="")
            )
            return bool(getattr(result, "rowcount", 0))

    async def _transcribe(self, request_id: int, ref: str, channel: str) -> None:
        text = ""
        try:
            path = await self.media.local_copy(ref.partition(AUDIO_KIND)[0], channel)
            if path is not None:
                async with asyncio.timeout(self.timeout):
                    text = await self.recognizer.transcribe(path)
        except Exception:
            log.exception("no transcript for request %s", request_id)
        if not text:
            return
        async with self.sessions() as session, session.begin():
            req = await session.get(Request, request_id)
            if req is None:
                return
            req.voice_transcript = text[:4000]
            card_refresh(session, req, self.desk_chats(req.department), now=utcnow())


def make_transcriber(
    sessions: async_sessionmaker[AsyncSession],
    cfg: VoiceSettings,
    desk_chats: Any,
    media: MediaStore,
) -> Transcriber | None:
    if not cfg.model_path:
        return None
    return Transcriber(sessions, desk_chats, media, VoskRecognizer(cfg), cfg.timeout_seconds)


@contextlib.asynccontextmanager
async def transcribing(transcriber: Transcriber | None, every: float = 10.0) -> AsyncIterator[None]:
    """Transcripts made in the background for as long as the bot runs (nothing without a
    model)."""
    if transcriber is None:
        yield
        return

    async def loop() -> None:
        while True:
            try:
                if await transcriber.run_once():
                    continue
            except Exception:
                log.exception("transcription scan failed")
            await asyncio.sleep(every)

    task = asyncio.create_task(loop(), name="transcripts")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
