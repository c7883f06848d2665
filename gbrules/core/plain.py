"""Conditions in plain language, for readers who do not read the condition syntax.

``phq9_item9 >= 1 or suicidal_ideation == true`` reads "PHQ-9 item 9 is 1 or more, or suicidal
ideation is reported". Generated from the condition AST with the vocabulary's labels and units,
so the review book, the FHIR export and any other reader say the same thing.
"""

from __future__ import annotations

from gbrules.core.language import All, AnyOf, Cmp, Condition, Not, Recorded
from gbrules.core.vocabulary import FactSpec, Vocabulary

_OPS = {
    ">=": "is {v} or more",
    ">": "is more than {v}",
    "<=": "is {v} or less",
    "<": "is less than {v}",
    "==": "is {v}",
    "!=": "is not {v}",
    "in": "is one of {v}",
    "not in": "is none of {v}",
}


def _value(v: object, unit: str) -> str:
    if isinstance(v, tuple):
        return ", ".join(_value(x, "") for x in v)
    if isinstance(v, bool):
        return "yes" if v else "no"
    if any(ch.isdigit() for ch in unit):
        unit = ""  # a scale such as "0-10" is not a unit to print after the number
    if unit.endswith("s") and v == 1:
        unit = unit[:-1]  # "1 point", "1 year"
    if isinstance(v, float):
        v = f"{v:g}"
    return f"{v} {unit}".strip() if unit else str(v)


def leaf_text(c: Cmp | Recorded, vocabulary: Vocabulary) -> str:
    """One comparison in words: "PHQ-9 total is 20 or more", "CRP is not recorded"."""
    spec: FactSpec | None
    try:
        spec = vocabulary[c.fact]
    except KeyError:  # a condition over a fact of another vocabulary: name it as written
        spec = None
    label = spec.label if spec else c.fact.replace("_", " ")
    unit = spec.unit if spec else ""
    if isinstance(c, Recorded):
        return f"{label} is {'recorded' if c.recorded else 'not recorded'}"
    if isinstance(c.value, bool) and c.op in ("==", "!="):
        present = c.value == (c.op == "==")
        return f"{label} is reported" if present else f"{label} is recorded as absent"
    return f"{label} " + _OPS[c.op].format(v=_value(c.value, unit))


def plain(cond: Condition, vocabulary: Vocabulary) -> str:
    """The whole condition in words; nested groups say "all of" / "any of" to keep the
    grouping unambiguous without brackets."""

    def walk(c: Condition, top: bool) -> str:
        if isinstance(c, Cmp | Recorded):
            return leaf_text(c, vocabulary)
        if isinstance(c, Not):
            return f"not ({walk(c.item, False)})"
        parts = [walk(i, False) for i in c.items]
        word = "and" if isinstance(c, All) else "or"
        if len(parts) == 1:
            return parts[0]
        joined = ", ".join(parts[:-1]) + f", {word} " + parts[-1]
        if len(parts) == 2:
            joined = f"{parts[0]}{',' if word == 'or' else ''} {word} {parts[1]}"
        if top:
            return joined
        return ("all of: " if isinstance(c, All) else "any of: ") + f"({joined})"

    text = walk(cond, True)
    return text[:1].upper() + text[1:]


def numbers(cond: Condition) -> list[Cmp]:
    """Every numeric comparison (a threshold) in the condition, in reading order."""
    out: list[Cmp] = []

    def walk(c: Condition) -> None:
        if isinstance(c, Cmp):
            if isinstance(c.value, int | float) and not isinstance(c.value, bool):
                out.append(c)
        elif isinstance(c, All | AnyOf):
            for i in c.items:
                walk(i)
        elif isinstance(c, Not):
            walk(c.item)

    walk(cond)
    return out
