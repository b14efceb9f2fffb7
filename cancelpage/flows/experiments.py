"""Deterministic assignment of customers to experiment arms (a stable hash, no stored state)."""

from __future__ import annotations

import hashlib

from .model import HOLDOUT, Experiment

_SCALE = float(2**64)


def bucket(experiment_id: str, customer_id: str) -> float:
    """A number in [0, 1), uniform over customers, fixed for (experiment, customer).

    SHA-256 of ``experiment_id:customer_id``, first 8 bytes as an integer over 2**64. The
    experiment id is part of the input so that one customer's arms in two experiments are
    independent. Never change this: it would move customers between arms mid-experiment.
    """
    digest = hashlib.sha256(f"{experiment_id}:{customer_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / _SCALE


def assign_arm(experiment: Experiment, customer_id: str) -> str:
    """The customer's arm: HOLDOUT for the first `holdout` share of buckets, else a variant's
    offer id, drawn by weight from the rest of the bucket range."""
    u = bucket(experiment.id, customer_id)
    if u < experiment.holdout:
        return HOLDOUT
    # Rescale the remaining range to [0, 1) so the variants split it exactly by weight.
    v = (u - experiment.holdout) / (1.0 - experiment.holdout)
    total = sum(variant.weight for variant in experiment.variants)
    threshold = v * total
    cumulative = 0
    for variant in experiment.variants:
        cumulative += variant.weight
        if threshold < cumulative:
            return variant.offer
    return experiment.variants[-1].offer  # v * total rounded up to total: the last variant
