"""OpenAPI links between the operations on one resource (its lifecycle).

A resource here is what a path variable's template names (``customers/*``,
``conversations/*/messages/*``, a singleton such as ``/v1/dashboard``); its message is what
the standard Get (a ``GET`` whose path ends with that variable) answers. From that:

* a producer (any operation whose 200 answer is the resource, or carries it in one
  field, and whose own path is not on the resource: the creates, ``POST
  /v1/customers``, ``POST /v1/conversations/{conversation_id}/notes``, and also
  ``:merge``, ``Login``'s member) links to every operation on the resource; each
  path parameter is one segment of the answered ``name``, taken with schemathesis's
  ``#regex:`` extractor after the JSON pointer (a runtime expression has no other
  way to cut ``customers/abc`` down to ``abc``);
* the standard methods link to each other with plain ``$request.path`` expressions:
  Get -> Update, Delete; Update -> Get, Delete; Delete -> Get (which must then
  answer 404);
* custom methods and sub-collections are reached from the producer only: a link out
  of them would make schemathesis start scenarios at every custom ``POST`` (it takes
  a ``POST`` with links for a create), with random ids that only find 404s.

So a stateful client (schemathesis's stateful phase) walks create -> get -> update
-> delete -> get, and create -> each custom method, on real resources instead of
random ids.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

REGEX_EXTRACTOR = "#regex:"
_STANDARD_VERBS = ("get", "patch", "delete")
_NEXT = {"get": ("patch", "delete"), "patch": ("get", "delete"), "delete": ("get",)}


@dataclass(frozen=True)
class Variable:
    """One path-template variable: ``{name=customers/*}`` and its OpenAPI parameters."""

    field: str  # name, parent, customer.name
    template: str  # customers/*, ruleSettings
    params: tuple[str, ...]  # one OpenAPI path parameter per *, in order


@dataclass(frozen=True)
class Route:
    """One operation as the link builder sees it."""

    operation: dict[str, Any]  # the operation object; its 200 response gets the links
    path: str  # the OpenAPI path
    verb: str  # lower case
    variables: tuple[Variable, ...]
    ends_with_variable: bool  # the template ends with its last variable: a standard path
    output: str  # the response message's full name
    output_fields: tuple[tuple[str, str], ...]  # (json name, message type) of singular fields

    @property
    def operation_id(self) -> str:
        return str(self.operation["operationId"])

    @property
    def link_name(self) -> str:
        return self.operation_id.split("_", 1)[-1]

    def on(self, singletons: set[str]) -> Variable | None:
        """The resource this operation acts on: its only path variable, or for a
        singleton (a path without parameters with a GET and a PATCH,
        ``/v1/dashboard``) its path."""
        if not self.params and self.path in singletons:
            return Variable(field="", template=self.path, params=())
        if len(self.variables) == 1:
            return self.variables[0]
        return None

    @property
    def params(self) -> tuple[str, ...]:
        return tuple(p for v in self.variables for p in v.params)


def add_links(routes: Iterable[Route]) -> int:
    """Add the lifecycle links to the routes' 200 responses; how many were added."""
    routes = list(routes)
    verbs: dict[str, set[str]] = {}
    for route in routes:
        if not route.params:
            verbs.setdefault(route.path, set()).add(route.verb)
    singletons = {path for path, found in verbs.items() if {"get", "patch"} <= found}
    by_template: dict[str, list[Route]] = {}
    for route in routes:
        if (variable := route.on(singletons)) is not None:
            by_template.setdefault(variable.template, []).append(route)
    standard: dict[str, dict[str, Route]] = {}
    resource_of: dict[str, str] = {}  # message full name -> template
    for template, members in by_template.items():
        for route in members:
            if (route.ends_with_variable or not route.params) and route.verb in _STANDARD_VERBS:
                standard.setdefault(template, {}).setdefault(route.verb, route)
        if (get := standard.get(template, {}).get("get")) is not None:
            resource_of.setdefault(get.output, template)
    count = 0
    for route in routes:
        count += _create_links(route, resource_of, by_template)
    for template, members in by_template.items():
        methods = standard.get(template, {})
        for route in members:
            count += _sibling_links(route, methods, singletons)
    return count


def _create_links(
    route: Route, resource_of: dict[str, str], by_template: dict[str, list[Route]]
) -> int:
    produced = _produced(route, resource_of)
    if produced is None:
        return 0
    pointer, template = produced
    if any(v.template == template for v in route.variables):
        return 0  # an operation on the resource itself, not its creation
    count = 0
    for target in by_template[template]:
        if not target.params:
            continue  # a singleton is never created
        variable = target.variables[0]
        parameters = {
            f"path.{param}": f"$response.body#{pointer}{REGEX_EXTRACTOR}{name_regex(template, i)}"
            for i, param in enumerate(variable.params)
        }
        count += _link(route, target, parameters, f"The {_noun(template)} just created.")
    return count


def _produced(route: Route, resource_of: dict[str, str]) -> tuple[str, str] | None:
    """(JSON pointer to the resource's name, its template) when the answer carries one."""
    if route.output in resource_of:
        return "/name", resource_of[route.output]
    carried = [(json, resource_of[t]) for json, t in route.output_fields if t in resource_of]
    if len(carried) == 1:
        json, template = carried[0]
        return f"/{json}/name", template
    return None


def _sibling_links(route: Route, methods: dict[str, Route], singletons: set[str]) -> int:
    variable = route.on(singletons)
    assert variable is not None
    if methods.get(route.verb) is not route:
        return 0
    targets = [methods[verb] for verb in _NEXT[route.verb] if verb in methods]
    count = 0
    for target in targets:
        params = zip(variable.params, target.params, strict=True)
        parameters = {f"path.{theirs}": f"$request.path.{ours}" for ours, theirs in params}
        count += _link(route, target, parameters, f"The same {_noun(variable.template)}.")
    return count


def _link(source: Route, target: Route, parameters: dict[str, str], description: str) -> int:
    response = source.operation["responses"].get("200")
    if response is None or target is source:
        return 0
    links = response.setdefault("links", {})
    link: dict[str, Any] = {"operationId": target.operation_id, "description": description}
    if parameters:
        link["parameters"] = parameters
    links[target.link_name] = link
    return 1


def name_regex(template: str, index: int) -> str:
    """A regex whose one group is the ``index``-th ``*`` segment of a resource name."""
    parts: list[str] = []
    star = 0
    for segment in template.split("/"):
        if segment == "*":
            parts.append("([^/]+)" if star == index else "[^/]+")
            star += 1
        else:
            parts.append(re.escape(segment))
    return "^" + "/".join(parts) + "$"


def _noun(template: str) -> str:
    literal = [s for s in template.split("/") if s != "*"]
    return f"`{literal[-1]}` resource" if literal else "resource"
