"""Edit semantics: supersession on add, and exact undo for delete and rollback.

Every function here runs inside one storage transaction and returns the ids of the facts whose
status it changed, so that the graph and the index can follow.
"""
from __future__ import annotations

from dataclasses import dataclass

from kme_store.facts import Fact, FactStatus
from kme_store.storage import RelationRow, SQLiteStorage


@dataclass(frozen=True, slots=True)
class AddOutcome:
    fact_id: int
    created: bool  # False: the same fact was already current, nothing changed
    changed: tuple[int, ...]  # facts whose status changed (the new one and what it superseded)


def add_fact(storage: SQLiteStorage, fact: Fact, subject_id: int, relation: RelationRow, object_id: int,
             batch_id: str, seq: int) -> AddOutcome:
    """Store `fact` as the current object of its (subject, relation).

    Adding the object that is already current changes nothing (idempotence). Otherwise, unless
    the relation is multi-valued, the current fact becomes SUPERSEDED and the new fact records
    which one it replaced, so that undoing it can bring that one back.
    """
    current = storage.current_for(subject_id, relation.id)
    for fact_id, current_object in current:
        if current_object == object_id:
            return AddOutcome(fact_id, False, ())
    superseded: list[int] = []
    if not relation.multi_valued:
        superseded = [fact_id for fact_id, _ in current]
        for fact_id in superseded:
            storage.set_status(fact_id, FactStatus.SUPERSEDED, seq)
    # With a single-valued relation there is at most one current fact; should there be several
    # (a relation declared single-valued after the fact), the newest is the one to restore.
    supersedes = max(superseded) if superseded else None
    new_id = storage.insert_fact(fact, subject_id, relation.id, object_id, batch_id, supersedes, seq)
    return AddOutcome(new_id, True, (new_id, *superseded))


def undo_fact(storage: SQLiteStorage, fact_id: int, status: FactStatus, seq: int) -> list[int]:
    """Take a fact out of history as if it had never been added; it ends in `status`.

    A current fact gives way to the fact it superseded. A superseded fact is cut out of the
    chain: whatever superseded it now supersedes its predecessor. Facts already deleted or
    rolled back are left alone (returns []).
    """
    row = storage.fact_row(fact_id)
    if row.status not in (FactStatus.CURRENT.value, FactStatus.SUPERSEDED.value):
        return []
    previous = storage.supersedes_of(fact_id)
    changed = [fact_id]
    if row.status == FactStatus.CURRENT.value:
        if previous is not None and storage.fact_row(previous).status == FactStatus.SUPERSEDED.value:
            storage.set_status(previous, FactStatus.CURRENT, seq)
            changed.append(previous)
    else:
        successor = storage.superseded_by(fact_id)
        if successor is not None:
            storage.set_supersedes(successor, previous, seq)
    storage.set_status(fact_id, status, seq)
    return changed
