"""Language choice, the main menu, contacts & help, and erasing one's personal data."""

from __future__ import annotations

from handlers.dialog.context import Context, Step
from handlers.dialog.flow import goto, reask, step
from handlers.i18n import LANGUAGES, Safe
from handlers.types import Button, Incoming, Kind
from models.domain.residents import forget_resident

# Where Continue may take a resident with a draft: the steps of filing after the category.
DRAFT_STEPS = (
    Step.SUBCATEGORY,
    Step.ADDRESS,
    Step.DESCRIPTION,
    Step.PHOTOS,
    Step.PHONE,
    Step.CONFIRM,
)


async def ask_language(ctx: Context) -> None:
    # Each language is named in itself: the "language.name" of its own catalog.
    ctx.say(
        ctx.t("language.choose"),
        [[Button(ctx.tr.plain(lang, "language.name"), f"lang:{lang}")] for lang in LANGUAGES],
    )


@step(Step.LANGUAGE, ask_language, leads_to={Step.MENU: ""})
async def on_language(ctx: Context, ev: Incoming) -> None:
    lang = ev.payload.removeprefix("lang:") if ev.kind is Kind.BUTTON else ""
    if lang not in LANGUAGES:
        ctx.hint("hint.use_buttons")
        await reask(ctx)
        return
    first_time = ctx.resident.language is None
    ctx.resident.language = lang
    ctx.say(ctx.t("language.set"))
    if first_time:
        ctx.say(ctx.t("welcome", city=ctx.settings.city.name.get(lang)))
    await goto(ctx, Step.MENU)


def has_draft(ctx: Context) -> bool:
    return bool(ctx.draft.get("category"))


async def ask_menu(ctx: Context) -> None:
    rows = []
    if has_draft(ctx):
        rows.append([ctx.button("menu.continue", "menu:continue")])
    rows += [
        [ctx.button("menu.new", "menu:new")],
        [ctx.button("menu.my", "menu:my")],
        [ctx.button("menu.help", "menu:help"), ctx.button("menu.language", "menu:lang")],
    ]
    ctx.say(ctx.t("menu.prompt"), rows)


@step(
    Step.MENU,
    ask_menu,
    leads_to={
        Step.CATEGORY: "New request",
        # Continue: the first step of the draft still unanswered.
        **dict.fromkeys(DRAFT_STEPS, "Continue"),
        Step.MY_LIST: "My requests",
        Step.HELP: "Contacts & help",
        Step.LANGUAGE: "Language",
    },
)
async def on_menu(ctx: Context, ev: Incoming) -> None:
    from handlers.dialog import my_requests, new_request  # the menu leads everywhere

    match ev.payload if ev.kind is Kind.BUTTON else "":
        case "menu:new" if has_draft(ctx):
            # An address or a description already typed is not thrown away unasked.
            ctx.say(
                ctx.t(
                    "new.draft_exists",
                    category=new_request.category_label(
                        ctx, ctx.draft["category"], ctx.draft.get("subcategory")
                    ),
                ),
                [
                    [ctx.button("menu.continue", "menu:continue")],
                    [ctx.button("menu.start_over", "menu:restart")],
                ],
            )
        case "menu:new" | "menu:restart":
            await new_request.start(ctx)
        case "menu:continue":
            await new_request.resume(ctx)
        case "menu:my":
            await my_requests.open_list(ctx, page=0)
        case "menu:help":
            await goto(ctx, Step.HELP)
        case "menu:lang":
            await goto(ctx, Step.LANGUAGE)
        case _:
            ctx.hint("hint.use_menu")
            await reask(ctx)


async def ask_help(ctx: Context) -> None:
    lang = ctx.lang
    contacts = ctx.settings.contacts
    phones = "\n".join(
        ctx.t("help.phone_line", label=p.label.get(lang), number=p.number) for p in contacts.phones
    )
    extra = []
    if contacts.website:
        extra.append(ctx.t("help.website", url=contacts.website))
    if contacts.email:
        extra.append(ctx.t("help.email", email=contacts.email))
    ctx.say(
        ctx.t(
            "help.text",
            city=ctx.settings.city.name.get(lang),
            phones=Safe(phones),
            hours=contacts.hours.get(lang),
            extra=Safe("\n".join(extra)),
        ).strip()
    )
    ctx.say(
        ctx.t("privacy.notice"),
        [
            [ctx.button("privacy.forget_button", "help:forget")],
            [ctx.button("nav.menu", "nav:menu")],
        ],
    )


@step(Step.HELP, ask_help, leads_to={Step.FORGET: "erase my data", Step.MENU: ""})
async def on_help(ctx: Context, ev: Incoming) -> None:
    if ev.kind is Kind.BUTTON and ev.payload == "help:forget":
        await goto(ctx, Step.FORGET)
    elif ev.kind is Kind.BUTTON and ev.payload == "nav:menu":
        await goto(ctx, Step.MENU)
    else:
        ctx.hint("hint.use_buttons")
        await reask(ctx)


async def ask_forget(ctx: Context) -> None:
    ctx.say(
        ctx.t("forget.confirm"),
        [[ctx.button("forget.yes", "forget:yes")], [ctx.button("forget.no", "forget:no")]],
    )


@step(Step.FORGET, ask_forget, leads_to={Step.MENU: "No"})
async def on_forget(ctx: Context, ev: Incoming) -> None:
    if ev.kind is Kind.BUTTON and ev.payload == "forget:yes":
        count = await forget_resident(ctx.session, ctx.resident)
        ctx.say(ctx.n("forget.done", count))
        ctx.data.clear()
        ctx.data["forgotten"] = True
    elif ev.kind is Kind.BUTTON and ev.payload == "forget:no":
        await goto(ctx, Step.MENU)
    else:
        ctx.hint("hint.use_buttons")
        await reask(ctx)
