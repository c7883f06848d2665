"""Verification of a rulebook over every input, with an SMT solver (z3; extra ``prove``).

``invariants`` (the invariant language and the reference check on one evaluation) and
``factmodel`` (derived-fact definitions as data) need no solver; ``prove`` and ``encode`` do.
"""
