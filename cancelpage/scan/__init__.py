"""The revenue scan: how much a merchant loses to cancels and failed payments, read from their
own Stripe account (read-only, through billing/ only).

- ``figures``: the arithmetic (MRR per month by kind and currency, projections), pure Python
- ``service``: which lists are read, one page at a time, into a resumable checkpoint
- ``jobs``: scans as durable jobs the worker claims, one at a time per merchant
- ``charts`` and ``exports``: the SVG charts and the CSV of the monthly figures
"""
