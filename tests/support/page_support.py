"""Reading a page as a person does: its visible text nodes and the attributes people read."""

from __future__ import annotations

from html.parser import HTMLParser

# Not text of ours: Stripe request lines in the preview, and what the customer typed.
SKIPPED_TAGS = ("code", "textarea")


class _Text(HTMLParser):
    """Visible text nodes and the attributes people read (alt, aria-label, title, placeholder)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: set[str] = set()
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.skipping += tag in SKIPPED_TAGS
        for name, value in attrs:
            if name in ("alt", "aria-label", "title", "placeholder") and value:
                self.found.add(" ".join(value.split()))

    def handle_endtag(self, tag: str) -> None:
        self.skipping -= tag in SKIPPED_TAGS

    def handle_data(self, data: str) -> None:
        text = " ".join(data.split())
        if text and not self.skipping:
            self.found.add(text)


def visible_texts(html: str) -> set[str]:
    parser = _Text()
    parser.feed(html)
    return parser.found
