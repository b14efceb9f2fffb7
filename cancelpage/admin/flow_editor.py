"""The flow editor: reasons, the offer catalogue, targeting rules, publishing and versions.

Each item is its own form. Without JavaScript a form posts and gets a 303 back to the editor
(or the editor with the item's errors inline); with htmx the edited section comes back in place,
together with the publish bar (out of band) that says whether the draft differs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Response, abort, flash, make_response, request, url_for
from jinja2_fragments.flask import render_blocks

from cancelpage import flows
from cancelpage.admin.common import NAV, bp, merchant, page
from cancelpage.extensions import db
from cancelpage.flows.parsing import CONDITION_FIELDS, CONDITION_OPS
from cancelpage.merchants import flow_drafts, previews
from cancelpage.merchants.settings import LOCALE_LABELS
from cancelpage.vocabulary import FEEDBACK_CODES
from cancelpage.web.rendering import see_other, wants_fragment

TEMPLATE = "admin/flow.html"
DURATION_LABELS = {
    "once": "the next payment",
    "repeating": "some months",
    "forever": "as long as they stay",
}
PAUSE_LABELS = {
    "void": "void them",
    "keep_as_draft": "keep them as drafts",
    "mark_uncollectible": "mark them uncollectible",
}
PRORATION_LABELS = {
    "create_prorations": "prorate",
    "none": "no proration",
    "always_invoice": "prorate and invoice now",
}
OP_LABELS = {"eq": "is", "in": "is one of", "gte": "at least", "lte": "at most"}
OFFER_KIND_LABELS = {kind: cls.label for kind, cls in flows.OFFER_TYPES.items()}


def context(**extra: Any) -> dict[str, Any]:
    current = merchant()
    draft = flow_drafts.draft_of(current)
    segment = previews.segment_form(request.args)
    preview, preview_errors = previews.preview_draft(current, draft, segment)
    return {
        "draft": draft,
        "shadowed": flow_drafts.shadowed(draft),
        "segment": segment,
        "draft_preview": preview,
        "preview_errors": preview_errors,
        "locales": LOCALE_LABELS,
        "preview_reasons": [(r["code"], r["label"]) for r in draft["reasons"] if r["enabled"]],
        "has_changes": flow_drafts.has_changes(current),
        "versions": flow_drafts.versions(current),
        "feedback_pairs": [(code, code.replace("_", " ")) for code in FEEDBACK_CODES],
        "offer_kinds": OFFER_KIND_LABELS,
        "offer_fields": flow_drafts.OFFER_FIELDS,
        "condition_ops": {op: OP_LABELS[op] for op in CONDITION_OPS},
        "durations": DURATION_LABELS,
        "pause_behaviors": PAUSE_LABELS,
        "prorations": PRORATION_LABELS,
        "rule_values": flow_drafts.rule_values,
        "rule_values_from_form": flow_drafts.rule_values_from_form,
        "condition_fields": CONDITION_FIELDS,
        "new_kind": None,
        # The item whose edit was refused: its path, messages and what was typed.
        "failed": None,
        "notice": None,
        **extra,
    }


def respond(
    section: str, message: str, error: flow_drafts.EditErrors | None = None, path: str = ""
) -> Response:
    """The edited section (htmx) or a 303 back to it; on a refused edit, the errors inline."""
    if error is None:
        db.session.commit()
    failed = None if error is None else {"path": path, "errors": error, "form": request.form}
    ctx = context(failed=failed, notice=None if error else message)
    if path == "new_offer":
        ctx["new_kind"] = request.form.get("kind")
    if wants_fragment():
        return fragment(section, ctx, only=element_id(path) if error else None)
    if error is not None:
        return page(TEMPLATE, "content", **ctx)
    flash(message)
    return see_other(url_for("admin.flow") + f"#{section}")


def fragment(section: str, ctx: dict[str, Any], only: str | None) -> Response:
    """The section, the publish bar (out of band) and a nudge to the draft preview.

    The server names what is swapped, whatever the form said: a refused edit replaces only the
    item it was about (``only``), so every other form on the page keeps what was typed.
    """
    html = render_blocks(TEMPLATE, [section, "publish_bar"], merchant=merchant(), nav=NAV, **ctx)
    response = make_response(html, 200)
    response.vary.add("HX-Request")
    response.headers["HX-Retarget"] = f"#{only or section}"
    response.headers["HX-Reswap"] = "outerHTML"
    if only:
        response.headers["HX-Reselect"] = f"#{only}"
    else:
        response.headers["HX-Trigger"] = "draft-changed"
    return response


def element_id(path: str) -> str:
    """The id of the editor element that shows the errors of ``path`` (see flow.html)."""
    singular = {"reasons": "reason", "offers": "offer", "rules": "rule"}
    name, _, index = path.partition("[")
    if index:
        return f"{singular[name]}-{index.rstrip(']')}"
    return path.replace("_", "-")


def edit(
    change: Callable[[], object], section: str, done: str, path: str, *, then: str | None = None
) -> Response:
    """Make one change to the draft: 404 for an item that is not there, the errors next to the
    item at ``path`` when refused, else ``then`` (the section by default) with ``done``."""
    try:
        change()
    except flow_drafts.NotFound:
        abort(404)
    except flow_drafts.EditErrors as error:
        return respond(section, "", error, path)
    return respond(then or section, done)


def offer_path(offer_id: str) -> str:
    """Where an offer's errors show: its place in the draft (404 when there is no such offer)."""
    try:
        return f"offers[{flow_drafts.offer_index(flow_drafts.draft_of(merchant()), offer_id)}]"
    except flow_drafts.NotFound:
        abort(404)


@bp.get("/flow")
def flow() -> Response:
    """The editor: draft on the left, publish bar and versions."""
    return page(TEMPLATE, "content", **context())


@bp.get("/flow/draft-preview")
def draft_preview() -> Response:
    """What the draft shows the chosen segment, and the rule that decided it (htmx)."""
    if not wants_fragment():
        return see_other(url_for("admin.flow", **request.args) + "#draft-preview")
    return page(TEMPLATE, "draft_preview", **context())


@bp.get("/flow/offers/new")
def offer_new() -> Response:
    """The typed form for a new offer of one kind."""
    kind = request.args.get("kind", "")
    if kind not in OFFER_KIND_LABELS:
        abort(404)
    return page(TEMPLATE, "new_offer", **context(new_kind=kind))


@bp.post("/flow/reasons", defaults={"index": None})
@bp.post("/flow/reasons/<int:index>")
def reason_save(index: int | None) -> Response:
    """Add or change a reason (label, Stripe feedback code, on/off)."""
    path = "new_reason" if index is None else f"reasons[{index}]"
    return edit(
        lambda: flow_drafts.put_reason(merchant(), index, request.form),
        "reasons",
        "Reason saved.",
        path,
    )


@bp.post("/flow/<any(reasons, rules):section>/<int:index>/move")
def item_move(section: str, index: int) -> Response:
    """Move a reason or a rule up or down."""
    direction = request.form.get("direction", "")
    return edit(
        lambda: flow_drafts.move(merchant(), section, index, direction),
        section,
        "Order changed.",
        section,
    )


@bp.post("/flow/reasons/<int:index>/delete")
def reason_delete(index: int) -> Response:
    """Delete a reason no rule uses."""
    return edit(
        lambda: flow_drafts.delete_reason(merchant(), index),
        "reasons",
        "Reason deleted.",
        f"reasons[{index}]",
    )


@bp.post("/flow/offers", defaults={"offer_id": None})
@bp.post("/flow/offers/<offer_id>")
def offer_save(offer_id: str | None) -> Response:
    """Add an offer of a kind, or change one (its id and kind stay)."""
    current = merchant()
    kind = request.form.get("kind", "")
    if offer_id is None and kind not in OFFER_KIND_LABELS:
        abort(404)
    return edit(
        lambda: flow_drafts.put_offer(current, offer_id, kind, request.form),
        "offers",
        "Offer saved.",
        offer_path(offer_id) if offer_id else "new_offer",
        then="offers" if offer_id else "editor",
    )


@bp.post("/flow/offers/<offer_id>/delete")
def offer_delete(offer_id: str) -> Response:
    """Delete an offer no rule uses."""
    return edit(
        lambda: flow_drafts.delete_offer(merchant(), offer_id),
        "offers",
        "Offer deleted.",
        offer_path(offer_id),
        then="editor",
    )


@bp.post("/flow/rules", defaults={"index": None})
@bp.post("/flow/rules/<int:index>")
def rule_save(index: int | None) -> Response:
    """Add or change a targeting rule (reasons + conditions -> offers)."""
    path = "new_rule" if index is None else f"rules[{index}]"
    return edit(
        lambda: flow_drafts.put_rule(merchant(), index, request.form), "rules", "Rule saved.", path
    )


@bp.post("/flow/rules/<int:index>/delete")
def rule_delete(index: int) -> Response:
    """Delete a rule."""
    try:
        flow_drafts.delete_rule(merchant(), index)
    except flow_drafts.NotFound:
        abort(404)
    return respond("rules", "Rule deleted.")


@bp.post("/flow/general")
def general_save() -> Response:
    """Default offers (when no rule matches) and how many offers a session shows at most."""
    try:
        flow_drafts.put_general(merchant(), request.form)
    except flow_drafts.EditErrors as error:
        return respond("general", "", error, "general")
    return respond("general", "Saved.")


@bp.post("/flow/publish")
def publish() -> Response:
    """Publish the draft as a new version (new sessions run it)."""
    try:
        version = flow_drafts.publish(merchant())
    except flow_drafts.EditErrors as error:
        return respond("publish_bar", "", error, "publish")
    return respond("editor", f"Published version {version.number}.")


@bp.post("/flow/discard")
def discard() -> Response:
    """Throw the draft away: back to the published version."""
    flow_drafts.discard(merchant())
    return respond("editor", "Draft discarded.")


@bp.post("/flow/versions/<int:version_id>/restore")
def restore(version_id: int) -> Response:
    """Publish a copy of an earlier version as the newest one."""
    current = merchant()
    version = flow_drafts.version_of(current, version_id)
    if version is None:
        abort(404)
    try:
        restored = flow_drafts.restore(current, version)
    except flow_drafts.EditErrors as error:
        return respond("publish_bar", "", error, "publish")
    return respond("editor", f"Version {version.number} restored as version {restored.number}.")
