"""Re-encrypting every secret stored at rest with the newest configured key."""

from __future__ import annotations

import sqlalchemy as sa

from cancelpage.extensions import db
from cancelpage.merchants import vault

# Convention: a column holding vault ciphertext is named *_encrypted, on any model.
SUFFIX = "_encrypted"


def encrypted_columns() -> list[tuple[type, str]]:
    found = []
    for mapper in db.Model.registry.mappers:
        for column in mapper.columns:
            if column.key.endswith(SUFFIX):
                found.append((mapper.class_, column.key))
    return sorted(found, key=lambda pair: (pair[0].__name__, pair[1]))


def rotate_all(batch: int = 500) -> int:
    """Re-encrypt every stored secret with the newest key; returns how many values changed.

    Old keys keep decrypting until removed from ENCRYPTION_KEYS, so this can run while the
    service is up; remove the old key only after it finished.
    """
    changed = 0
    for model, name in encrypted_columns():
        column = getattr(model, name)
        pk = sa.inspect(model).primary_key[0]
        last = None
        while True:
            query = sa.select(model).where(column.is_not(None)).order_by(pk).limit(batch)
            if last is not None:
                query = query.where(pk > last)
            rows = list(db.session.scalars(query))
            if not rows:
                break
            for row in rows:
                setattr(row, name, vault.rotate(getattr(row, name)))
                changed += 1
            last = getattr(rows[-1], pk.key)
            db.session.commit()
    return changed
