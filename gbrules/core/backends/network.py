"""How deep durable_rules' matching stack can go for a ruleset: the bound that decides how a
rulebook is split into rulesets.

durable_rules (2.0.28) matches a fact by walking its alpha network depth first with a fixed
stack of ``STACK_LIMIT`` (64) pending nodes. When a node is taken off the stack, every child
that matches the fact is pushed at once; a push onto a full stack fails the assertion with
error 303, and the state it leaves behind is half built (deleting it crashed the process in
our tests, docs/ENGINE.md). So no fact may ever push more than 64 pending nodes, and that is a
property of the *network*, not of how many rules are true: 65 rules testing ``x != 0``,
``x != 1``, ... fail on a fact where all hold, while hundreds of rules sharing one test do not,
and a rule whose condition has an ``$or`` adds a node per branch that is pushed whatever the
fact says.

This module rebuilds the network's shape from the compiled expressions, the way the engine
builds it (each ``$and`` a chain of tests, identical tests under one parent shared, each
``$or`` a fresh join node linked from the end of every branch and always pushed), and bounds
the stack from above:

* ``k(v)``, the most children of node ``v`` that one fact can push: every "not recorded" test
  and join node (pushed when the property is absent, or always), plus, per property, one for
  all its equality tests together (a fact has one value) and one for each other test;
* the stack height after ``v`` pushes its children is at most the sum of ``k(u) - 1`` over
  the nodes ``u`` on the path down to ``v`` (each left its other children waiting), plus
  ``k(v)``; the bound is the largest such sum over every path.

The bound is exact for the shapes the tests probe (``tests/test_network.py`` checks it against
the engine: a ruleset at the bound works on the fact that pushes the most, one over fails),
and never below the true height, so a ruleset whose bound is at most 64 cannot fail with 303.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

STACK_LIMIT = 64  # MAX_STACK_SIZE in the engine's events.c
_COMPARISONS = ("$neq", "$gt", "$gte", "$lt", "$lte", "$ex", "$nex", "$mt", "$imt")


@dataclass(eq=False)
class _Node:
    """One alpha node: its children by test (shared, as the engine shares identical tests under
    one parent) and the join nodes of ``$or`` linked from it (never shared)."""

    tests: dict[tuple[str, str, str], _Node] = field(default_factory=dict)
    joins: list[_Node] = field(default_factory=list)

    def child(self, prop: str, op: str, value: Any) -> _Node:
        key = (prop, op, json.dumps(value))
        node = self.tests.get(key)
        if node is None:
            node = self.tests[key] = _Node()
        return node

    def pushes(self) -> int:
        """The most children one fact can push from here (``k`` in the module docstring)."""
        equal: set[str] = set()
        count = len(self.joins)
        for prop, op, _ in self.tests:
            if op == "==":
                equal.add(prop)
            else:
                count += 1
        return count + len(equal)

    def children(self) -> Iterable[_Node]:
        yield from self.tests.values()
        yield from self.joins


def _leaf(expr: Mapping[str, Any]) -> tuple[str, str, Any]:
    """A single test as (property, operator, value); equality is written ``{prop: value}``."""
    ((key, body),) = expr.items()
    if key in _COMPARISONS:
        ((prop, value),) = body.items()
        return prop, key, value
    return key, "==", body


def _build(expr: Mapping[str, Any], parent: _Node) -> _Node:
    """Add one expression under ``parent`` as the engine does; the node its rule hangs from."""
    ((key, body),) = expr.items()
    if key == "$and":
        node = parent
        for item in body:
            node = _build(item, node)
        return node
    if key == "$or":
        join = _Node()
        for item in body:
            _build(item, parent).joins.append(join)
        return join
    prop, op, value = _leaf(expr)
    return parent.child(prop, op, value)


def stack_bound(expressions: Sequence[Mapping[str, Any]]) -> int:
    """The most pending nodes any fact can put on the engine's stack for a ruleset holding
    rules with these ``m`` expressions (each as the ruleset gives it to the engine, marker
    included)."""
    root = _Node()
    for expr in expressions:
        _build(expr, root)
    # Longest path where a step through u adds k(u) - 1; the network is acyclic.
    waiting: dict[int, int] = {id(root): 0}
    order = _topological(root)
    best = 0
    for node in order:
        here = waiting[id(node)]
        k = node.pushes()
        best = max(best, here + k)
        for child in node.children():
            key = id(child)
            waiting[key] = max(waiting.get(key, 0), here + k - 1)
    return best


def _topological(root: _Node) -> list[_Node]:
    """Every node reachable from ``root``, parents before children."""
    seen: set[int] = set()
    post: list[_Node] = []
    stack: list[tuple[_Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        if done:
            post.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        stack.extend((child, False) for child in node.children() if id(child) not in seen)
    post.reverse()
    return post
