"""An administrator's changes to a simulated Kandji tenant, each recorded in the audit feed.

Blueprints created and renamed, library items assigned to or removed from a blueprint,
library items edited: the changes after which a reader must list blueprints or their
items again. Each one appends the event the real audit feed would show
(:mod:`.audit`); device enrolment and deletion record theirs in :mod:`.writes`.
"""

from __future__ import annotations

import dataclasses
from array import array
from collections.abc import Iterable

from monitor.simulator.kandji.model import _PENDING, _PPENDING, Blueprint, LibraryItem
from monitor.simulator.kandji.writes import FleetWrites
from monitor.simulator.lookup import known


class FleetAdmin(FleetWrites):
    """The administrator's hooks: blueprints and library items."""

    def _require_blueprint(self, blueprint_id: str) -> Blueprint:
        return known(self.blueprint(blueprint_id), "blueprint", blueprint_id)

    def _replace_blueprint(self, bp: Blueprint) -> None:
        blueprints = list(self.blueprints)
        blueprints[bp.index] = bp
        self.blueprints = tuple(blueprints)
        self._blueprint_items[bp.index] = frozenset(bp.item_indices)
        self._blueprint_by_id[bp.id] = bp
        self._blueprints_for_platform = {
            code: [b for b in self.blueprints if code in b.platforms] for code in range(4)
        }
        self._generation += 1

    def _item_refs(self, indices: Iterable[int]) -> list[dict[str, str]]:
        return [{"id": self.items[j].id, "name": self.items[j].name} for j in sorted(indices)]

    def create_blueprint(
        self, name: str, *, type_: str = "classic", description: str = ""
    ) -> str:
        """Create an empty blueprint for every platform; returns its id."""
        index = len(self.blueprints)
        template = self.blueprints[0]
        bp = Blueprint(
            index=index,
            id=self._indexed_uuid("blueprint", index),
            name=name,
            type=type_,
            icon=template.icon,
            color=template.color,
            description=description,
            platforms=frozenset(range(4)),
            weight=1.0,
            enrollment_code=f"{index * 7919 % 1_000_000:06d}",
            item_indices=(),
            param_indices=(),
            muted_params=frozenset(),
        )
        self.blueprints = (*self.blueprints, bp)
        self._blueprint_items.append(frozenset())
        self._blueprint_params.append(frozenset())
        self._members.append(array("I"))
        self._blueprint_by_id[bp.id] = bp
        self._record_change(
            "create",
            "blueprint",
            bp.id,
            {"description": description, "type": type_, "name": name},
            metadata={"source_id": None, "source": None},
        )
        return bp.id

    def rename_blueprint(self, blueprint_id: str, name: str) -> None:
        """Give a blueprint a new name."""
        bp = dataclasses.replace(self._require_blueprint(blueprint_id), name=name)
        self._replace_blueprint(bp)
        self.audit.record(
            "update",
            "blueprint",
            bp.id,
            {"description": bp.description, "type": bp.type, "name": name},
        )

    def _set_items(self, bp: Blueprint, items: tuple[int, ...]) -> None:
        added = set(items) - set(bp.item_indices)
        removed = set(bp.item_indices) - set(items)
        new = dataclasses.replace(bp, item_indices=items)
        self._replace_blueprint(new)
        for j in added:
            pending = _PPENDING if self.items[j].is_profile else _PENDING
            statuses = self._item_status[j]
            for i in self._members[bp.index]:
                statuses[i] = pending  # newly assigned: nothing reported yet
        self.audit.record(
            "update",
            "blueprint",
            bp.id,
            {
                "library_items_added": self._item_refs(added),
                "library_items_removed": self._item_refs(removed),
                "library_items_scoped": self._item_refs(items),
                "name": bp.name,
            },
            component="library_items",
        )

    def assign_library_item(self, blueprint_id: str, item_id: str) -> None:
        """Add a library item to a blueprint; its devices start it pending."""
        bp = self._require_blueprint(blueprint_id)
        item = self._require_item(item_id)
        if item.index not in bp.item_indices:
            self._set_items(bp, tuple(sorted((*bp.item_indices, item.index))))

    def remove_library_item(self, blueprint_id: str, item_id: str) -> None:
        """Take a library item out of a blueprint."""
        bp = self._require_blueprint(blueprint_id)
        item = self._require_item(item_id)
        if item.index in bp.item_indices:
            self._set_items(bp, tuple(j for j in bp.item_indices if j != item.index))

    def edit_library_item(self, item_id: str, *, name: str) -> None:
        """Edit a library item (its name: what a list of items shows)."""
        item = self._require_item(item_id)
        new: LibraryItem = dataclasses.replace(item, name=name)
        items = list(self.items)
        items[item.index] = new
        self.items = tuple(items)
        self._item_by_id[new.id] = new
        self._record_change(
            "update",
            "library_item",
            new.id,
            {"active": True, "label": None, "type": new.type, "name": name},
        )
