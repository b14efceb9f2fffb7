"""The pages customers see: the cancel flow (cancel_pages) and the pages reached from recovery
emails (email_links: card update and unsubscribe)."""
