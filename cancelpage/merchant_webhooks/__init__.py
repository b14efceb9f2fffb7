"""Webhooks to the merchant's own app: endpoints, the events cancelpage emits, their delivery.

- ``endpoints``: adding and checking endpoint URLs (https, public hosts only) and their secrets
- ``events``: what happened, as a stable event queued for every endpoint in the caller's
  transaction (cancel sessions ending, recovery cases closing, win-back emails sent)
- ``delivery``: the worker that signs (Standard Webhooks) and posts them, with backoff
"""
