"""The department tree: descendants, cycles and paths such as "Sales/DE"."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class TreeNode:
    id: str
    parent_id: str
    display_name: str


class DepartmentTree:
    def __init__(self, nodes: Iterable[TreeNode]) -> None:
        self._nodes = {n.id: n for n in nodes}
        self._children: dict[str, list[str]] = defaultdict(list)
        for node in self._nodes.values():
            self._children[node.parent_id].append(node.id)

    def __contains__(self, department_id: str) -> bool:
        return department_id in self._nodes

    def descendants(self, department_id: str) -> set[str]:
        """Every department below ``department_id`` (not itself)."""
        found: set[str] = set()
        stack = list(self._children.get(department_id, ()))
        while stack:
            current = stack.pop()
            if current in found:
                continue
            found.add(current)
            stack.extend(self._children.get(current, ()))
        return found

    def would_cycle(self, department_id: str, new_parent_id: str) -> bool:
        """Whether putting ``department_id`` under ``new_parent_id`` makes a cycle."""
        if not new_parent_id:
            return False
        return new_parent_id == department_id or new_parent_id in self.descendants(department_id)

    def path(self, department_id: str) -> str:
        parts: list[str] = []
        seen: set[str] = set()
        current = self._nodes.get(department_id)
        while current is not None and current.id not in seen:
            seen.add(current.id)
            parts.append(current.display_name)
            current = self._nodes.get(current.parent_id)
        return "/".join(reversed(parts))

    def resolver(self) -> Mapping[str, str | None]:
        """Lower-cased path or name -> department id; None where a bare name is ambiguous.

        Every department is reachable by its full path ("sales/de"); a bare name
        ("de") works too when only one department has it.
        """
        found: dict[str, str | None] = {}
        names: dict[str, list[str]] = defaultdict(list)
        for node in self._nodes.values():
            found[self.path(node.id).casefold()] = node.id
            names[node.display_name.casefold()].append(node.id)
        for name, ids in names.items():
            if name in found:
                continue  # a root's name is its path
            found[name] = ids[0] if len(ids) == 1 else None
        return found


def visible_departments(
    tree: DepartmentTree, department_id: str, *, include_sub_departments: bool
) -> frozenset[str]:
    """The departments whose records a DEPARTMENT-scoped member sees."""
    if not department_id:
        return frozenset()
    if not include_sub_departments:
        return frozenset({department_id})
    return frozenset({department_id, *tree.descendants(department_id)})
