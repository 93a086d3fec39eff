"""The weekly ranking: on Monday at the digest's time, the administrators get the departments
ranked by their on-time share over the past seven days (open overdue requests counted as late),
then by the residents' average rating, with what residents said of the fixes beside it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from handlers.formatting import department_name, local_date, percent, rating
from handlers.i18n import Translator
from handlers.outbound.digest import city_zone
from models.domain.city import CityConfig
from models.storage.quality import Quality

WEEKLY_JOB = "weekly_ranking"


def weekly_slot(settings: CityConfig, now: datetime) -> datetime:
    """This week's Monday at the digest time (city time zone), as UTC."""
    tz = city_zone(settings)
    today = now.astimezone(tz).date()
    monday = today - timedelta(days=today.weekday())
    return datetime.combine(monday, settings.deadlines.digest_time, tzinfo=tz).astimezone(UTC)


def ranking(figures: dict[str, Quality]) -> list[Quality]:
    """Best first: the on-time share (none: last), then the average rating (none: last)."""

    def key(q: Quality) -> tuple[float, float, str]:
        on_time = q.on_time_share
        rating = q.average_rating
        return (
            -(on_time if on_time is not None else -1.0),
            -(rating if rating is not None else -1.0),
            q.department,
        )

    return sorted((q for q in figures.values() if q.has_figures), key=key)


def weekly_text(
    settings: CityConfig, tr: Translator, figures: dict[str, Quality], since: datetime
) -> str:
    lang = settings.staff.language
    end = since + timedelta(days=7) - timedelta(seconds=1)
    lines = [
        tr.t(
            lang,
            "weekly.head",
            start=local_date(settings, since),
            end=local_date(settings, end),
        )
    ]
    ranked = ranking(figures)
    if not ranked:
        lines.append(tr.t(lang, "weekly.empty"))
    for place, q in enumerate(ranked, 1):
        lines.append(
            tr.t(
                lang,
                "weekly.line",
                place=place,
                department=department_name(settings, lang, q.department),
                on_time=percent(q.on_time_share),
                rating=rating(q.average_rating),
                ratings=q.ratings,
                confirmed=percent(q.share(q.confirmed)),
                reopened=percent(q.share(q.reopened)),
            )
        )
    return "\n".join(lines)
