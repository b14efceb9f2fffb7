"""Helpers shared by the test packages: Stripe fixtures, mail, recovery, the dashboard."""
