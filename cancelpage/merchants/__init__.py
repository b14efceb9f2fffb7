"""Merchants: creating and finding them (store), their settings, secrets (Stripe key, webhook and
link secrets, encrypted at rest), API keys, dashboard accounts, flow drafts and previews."""
