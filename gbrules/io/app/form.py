"""The intake form, generated from the Intake JSON Schema (``Intake.model_json_schema()``).

No field is listed by hand here: the form is a walk over the schema, so a field added to the
intake models appears in the form by itself, with its range, its choices and its section.
What the walk makes of each kind of schema node:

- an object (a section such as ``gi`` or ``labs.crp``) becomes a ``Group`` (a fieldset); it is
  sent only when one of its inputs was filled, so an untouched section stays "not recorded";
- an instrument, i.e. an object with a fixed-length ``items`` array of scores and a ``total``
  (PHQ-9, GAD-7), becomes an ``Instrument``: one input per item with the total computed as the
  items are entered; a sibling ``itemN`` field (PHQ-9's ``item9``) is that item's own input, so
  a total plus item 9 can be entered when the other items were not recorded;
- a boolean becomes yes / no / not recorded (not recorded is the default and is never "no");
- an enum becomes a choice with "not recorded" first; a one-value enum (a fixed unit) is shown,
  not asked; integers, numbers, ISO dates and strings become inputs with the schema's bounds.

Form values are the raw strings as typed, keyed by JSON path (``mood.phq9.items[8]``), which is
also each input's ``name``: :func:`to_intake` turns them into Intake JSON and validates it with
``gbrules.clinical.intake.parse_intake``, and :func:`place_errors` puts every ``FieldError`` on
the input its path names (or the nearest fieldset that holds it).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal

from gbrules.clinical.intake import Intake, parse_intake
from gbrules.core.errors import FieldError, IntakeError

Kind = Literal["bool", "int", "number", "enum", "const", "date", "text"]
JSON = dict[str, Any]

#: Words spelled out in labels: abbreviations and units the schema's names write in lower case.
_WORDS = {
    "gi": "GI",
    "phq9": "PHQ-9",
    "gad7": "GAD-7",
    "hamd17": "HAM-D 17",
    "crp": "CRP",
    "ibs": "IBS",
    "ibd": "IBD",
    "sss": "SSS",
    "ssri": "SSRI",
    "maoi": "MAOI",
    "nsaid": "NSAID",
    "id": "ID",
    "kg": "(kg)",
    "mg": "mg",
    "g": "g",
}

#: Short descriptions of questionnaire items (the instruments' published item wording,
#: shortened), keyed by the instrument's JSON path. An instrument not listed here shows
#: "Item 1", "Item 2", ...
ITEM_TEXT: dict[str, tuple[str, ...]] = {
    "mood.phq9": (
        "Little interest or pleasure in doing things",
        "Feeling down, depressed or hopeless",
        "Trouble with sleep (falling or staying asleep, or sleeping too much)",
        "Feeling tired or having little energy",
        "Poor appetite or overeating",
        "Feeling bad about yourself",
        "Trouble concentrating",
        "Moving or speaking slowly, or being fidgety or restless",
        "Thoughts of being better off dead or of hurting yourself",
    ),
    "mood.gad7": (
        "Feeling nervous, anxious or on edge",
        "Not being able to stop or control worrying",
        "Worrying too much about different things",
        "Trouble relaxing",
        "Being so restless that it is hard to sit still",
        "Becoming easily annoyed or irritable",
        "Feeling afraid as if something awful might happen",
    ),
}

#: The answer scale of 0-3 questionnaire items (PHQ-9 and GAD-7 share it).
ITEM_SCALE = ("Not at all", "Several days", "More than half the days", "Nearly every day")

_ITEM_ALIAS = re.compile(r"^item(\d+)$")
_PATH_PART = re.compile(r"\.?([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]")


def label_of(name: str) -> str:
    """A field name as a label: ``abdominal_pain_score`` -> "Abdominal pain score"."""
    words = [_WORDS.get(w, w) for w in name.split("_")]
    text = " ".join(words)
    return text[:1].upper() + text[1:]


def input_id(path: str) -> str:
    """The HTML id of the input for a JSON path: ``mood.phq9.items[8]`` -> f-mood-phq9-items-8."""
    return "f-" + re.sub(r"[^A-Za-z0-9_]+", "-", path).strip("-")


def _join(parent: str, name: str) -> str:
    return f"{parent}.{name}" if parent else name


@dataclass(frozen=True)
class Field:
    """One input: a scalar of the intake, at ``path``."""

    path: str
    name: str
    label: str
    kind: Kind
    required: bool = False
    minimum: float | None = None
    maximum: float | None = None
    options: tuple[str, ...] = ()
    max_length: int | None = None
    help: str = ""

    @property
    def id(self) -> str:
        return input_id(self.path)

    @property
    def range_text(self) -> str:
        if self.minimum is None or self.maximum is None:
            return ""
        return f"{self.minimum:g}-{self.maximum:g}"

    @property
    def step(self) -> str:
        return "1" if self.kind == "int" else "any"

    def option_label(self, value: str) -> str:
        return label_of(value) if re.fullmatch(r"[a-z_]+", value) else value


@dataclass(frozen=True)
class Instrument:
    """A questionnaire: ``count`` item scores (``items[0]`` ...) and a total.

    ``aliases`` maps a 0-based item index to a sibling field that holds that item alone
    (PHQ-9's ``item9`` is item index 8). ``others`` are the instrument's remaining fields.
    """

    path: str
    name: str
    label: str
    count: int
    item_min: int
    item_max: int
    total: Field | None
    aliases: dict[int, str]
    others: tuple[Field, ...]
    help: str = ""

    @property
    def id(self) -> str:
        return input_id(self.path)

    @property
    def items_path(self) -> str:
        return f"{self.path}.items"

    def item_path(self, index: int) -> str:
        return f"{self.path}.items[{index}]"

    def item_label(self, index: int) -> str:
        texts = ITEM_TEXT.get(self.path, ())
        text = texts[index] if index < len(texts) else ""
        return f"Item {index + 1}" + (f": {text}" if text else "")

    @property
    def scale(self) -> tuple[tuple[str, str], ...]:
        """(value, words) for each answer an item can take."""
        values = range(self.item_min, self.item_max + 1)
        use_words = (self.item_min, self.item_max) == (0, len(ITEM_SCALE) - 1)
        return tuple((str(v), f"{v}: {ITEM_SCALE[v]}" if use_words else str(v)) for v in values)


@dataclass(frozen=True)
class Group:
    """An object of the intake (a section, or a sub-object such as ``labs.crp``)."""

    path: str
    name: str
    label: str
    children: tuple[Node, ...]
    help: str = ""

    @property
    def id(self) -> str:
        return input_id(self.path) if self.path else "f-intake"

    def walk(self) -> Iterator[Node]:
        """Every node below this one, depth first."""
        for child in self.children:
            yield child
            if isinstance(child, Group):
                yield from child.walk()


Node = Field | Instrument | Group


# --- schema -> form ------------------------------------------------------------------------


def _resolve(node: JSON, defs: Mapping[str, JSON]) -> JSON:
    """The node a ``$ref`` points at (schema refs here are always ``#/$defs/Name``)."""
    while "$ref" in node:
        node = defs[node["$ref"].rsplit("/", 1)[1]]
    return node


def _unwrap(node: JSON, defs: Mapping[str, JSON]) -> tuple[JSON, bool]:
    """The non-null branch of an optional field, and whether it was optional."""
    branches = node.get("anyOf")
    if isinstance(branches, list):
        real = [b for b in branches if b.get("type") != "null"]
        if len(real) == 1:
            return _resolve(real[0], defs), len(real) < len(branches)
    return _resolve(node, defs), False


def _field(path: str, name: str, node: JSON, required: bool) -> Field:
    label = label_of(name)
    help_text = str(node.get("description", ""))
    enum = node.get("enum")
    if "const" in node or (isinstance(enum, list) and len(enum) == 1):
        value = node["const"] if "const" in node else enum[0]  # type: ignore[index]
        return Field(path, name, label, "const", required, options=(str(value),), help=help_text)
    if isinstance(enum, list):
        return Field(
            path, name, label, "enum", required, options=tuple(map(str, enum)), help=help_text
        )
    kind: Kind
    schema_type = node.get("type")
    if schema_type == "boolean":
        kind = "bool"
    elif schema_type == "integer":
        kind = "int"
    elif schema_type == "number":
        kind = "number"
    elif schema_type == "string" and node.get("format") == "date":
        kind = "date"
    else:
        kind = "text"
    return Field(
        path,
        name,
        label,
        kind,
        required,
        minimum=node.get("minimum"),
        maximum=node.get("maximum"),
        max_length=node.get("maxLength"),
        help=help_text,
    )


def _instrument(path: str, name: str, obj: JSON, defs: Mapping[str, JSON]) -> Instrument | None:
    """The object as a questionnaire, if it is one (fixed-length ``items`` of integer scores)."""
    props: JSON = obj.get("properties", {})
    if "items" not in props:
        return None
    items, _ = _unwrap(props["items"], defs)
    score = items.get("items", {})
    count = items.get("minItems")
    if (
        items.get("type") != "array"
        or count is None
        or count != items.get("maxItems")
        or score.get("type") != "integer"
        or "minimum" not in score
        or "maximum" not in score
    ):
        return None
    required = set(obj.get("required", []))
    total: Field | None = None
    aliases: dict[int, str] = {}
    others: list[Field] = []
    for key, raw in props.items():
        if key == "items":
            continue
        node, _ = _unwrap(raw, defs)
        alias = _ITEM_ALIAS.match(key)
        if alias and 1 <= int(alias.group(1)) <= count and node.get("type") == "integer":
            aliases[int(alias.group(1)) - 1] = _join(path, key)
            continue
        f = _field(_join(path, key), key, node, key in required)
        if key == "total":
            total = f
        else:
            others.append(f)
    return Instrument(
        path=path,
        name=name,
        label=label_of(name),
        count=int(count),
        item_min=int(score["minimum"]),
        item_max=int(score["maximum"]),
        total=total,
        aliases=aliases,
        others=tuple(others),
        help=str(obj.get("description", "")),
    )


def _group(path: str, name: str, obj: JSON, defs: Mapping[str, JSON]) -> Group:
    required = set(obj.get("required", []))
    children: list[Node] = []
    for key, raw in obj.get("properties", {}).items():
        node, _ = _unwrap(raw, defs)
        child_path = _join(path, key)
        if node.get("type") == "object" or "properties" in node:
            instrument = _instrument(child_path, key, node, defs)
            children.append(instrument or _group(child_path, key, node, defs))
        else:
            children.append(_field(child_path, key, node, key in required))
    return Group(path, name, label_of(name) if name else "Intake", tuple(children))


def build_form(schema: JSON) -> Group:
    """The form for a JSON Schema of the Intake (pydantic's ``model_json_schema()``)."""
    return _group("", "", schema, schema.get("$defs", {}))


@cache
def intake_form() -> Group:
    """The form for the installed Intake models."""
    return build_form(Intake.model_json_schema())


@dataclass(frozen=True)
class Section:
    """One top-level fieldset of the page: the patient's own fields, then each object."""

    key: str
    label: str
    nodes: tuple[Node, ...]

    @property
    def id(self) -> str:
        return f"sec-{self.key}"


def sections(form: Group) -> tuple[Section, ...]:
    """The page's sections: top-level scalars together ("Patient"), then one per object."""
    scalars = tuple(n for n in form.children if isinstance(n, Field))
    out = [Section("patient", "Patient", scalars)] if scalars else []
    for node in form.children:
        if isinstance(node, Group | Instrument):
            out.append(Section(node.name, node.label, (node,)))
    return tuple(out)


# --- form values -> Intake JSON --------------------------------------------------------------


@dataclass
class Built:
    """Intake JSON built from form values, and the values that could not be read."""

    data: JSON = field(default_factory=dict)
    errors: list[FieldError] = field(default_factory=list)


def _convert(f: Field, raw: str) -> tuple[Any, str | None]:
    """A typed value from the raw text of an input, or the reason it is not one."""
    if f.kind == "bool":
        if raw in ("true", "false"):
            return raw == "true", None
        return None, "choose yes, no or not recorded"
    if f.kind == "int":
        try:
            return int(raw), None
        except ValueError:
            return None, "enter a whole number"
    if f.kind == "number":
        try:
            value = float(raw.replace(",", "."))
        except ValueError:
            return None, "enter a number"
        if not math.isfinite(value):
            return None, "enter a finite number"
        return value, None
    if f.kind in ("enum", "const"):
        if raw in f.options:
            return raw, None
        return None, "choose one of: " + ", ".join(f.options)
    return raw, None  # text and ISO dates: validated by the intake model


def _scalar(f: Field, values: Mapping[str, str], out: Built) -> tuple[bool, Any]:
    raw = values.get(f.path, "").strip()
    if not raw:
        return False, None
    value, problem = _convert(f, raw)
    if problem is not None:
        out.errors.append(FieldError(f.path, problem))
        return False, None
    return True, value


def _build_instrument(ins: Instrument, values: Mapping[str, str], out: Built) -> JSON:
    obj: JSON = {}
    given: dict[int, int] = {}
    for i in range(ins.count):
        raw = values.get(ins.item_path(i), "").strip()
        if not raw:
            continue
        try:
            given[i] = int(raw)
        except ValueError:
            out.errors.append(FieldError(ins.item_path(i), "enter a whole number"))
    total: tuple[bool, Any] = (False, None)
    if ins.total is not None:
        total = _scalar(ins.total, values, out)
    if len(given) == ins.count:
        obj["items"] = [given[i] for i in range(ins.count)]
        if total[0]:  # checked against the items by the model (a mistyped total is caught)
            obj["total"] = total[1]
    elif given:
        alias_only = set(given) <= set(ins.aliases)
        if alias_only:
            for i, v in given.items():
                obj[ins.aliases[i].rsplit(".", 1)[1]] = v
        else:
            out.errors.append(
                FieldError(
                    ins.items_path,
                    f"enter all {ins.count} items, or leave the items blank and enter the total"
                    + (
                        " (with " + ", ".join(f"item {i + 1}" for i in sorted(ins.aliases)) + ")"
                        if ins.aliases
                        else ""
                    ),
                )
            )
        if total[0]:
            obj["total"] = total[1]
    elif total[0]:
        obj["total"] = total[1]
    for f in ins.others:
        ok, value = _scalar(f, values, out)
        if ok:
            obj[f.name] = value
    return obj


def _build_group(group: Group, values: Mapping[str, str], out: Built) -> JSON:
    obj: JSON = {}
    consts: JSON = {}
    for node in group.children:
        if isinstance(node, Group):
            sub = _build_group(node, values, out)
            if sub:
                obj[node.name] = sub
        elif isinstance(node, Instrument):
            sub = _build_instrument(node, values, out)
            if sub:
                obj[node.name] = sub
        elif node.kind == "const":
            consts[node.name] = node.options[0]
        else:
            ok, value = _scalar(node, values, out)
            if ok:
                obj[node.name] = value
    if obj:  # a fixed value (a unit) goes with the values it qualifies, never alone
        obj.update(consts)
    return obj


def to_intake(values: Mapping[str, str], form: Group | None = None) -> Built:
    """Intake JSON from form values (unread values become errors at their input)."""
    out = Built()
    out.data = _build_group(form or intake_form(), values, out)
    return out


@dataclass(frozen=True)
class Checked:
    """Form values checked against the intake models: the intake, or every problem."""

    data: JSON
    intake: Intake | None
    errors: tuple[FieldError, ...]


def check(values: Mapping[str, str], form: Group | None = None) -> Checked:
    """Build and validate: an ``Intake`` only when there is no error at all."""
    built = to_intake(values, form)
    errors = list(built.errors)
    intake: Intake | None = None
    try:
        intake = parse_intake(built.data)
    except IntakeError as exc:
        seen = {e.path for e in errors}
        errors += [e for e in exc.errors if e.path not in seen]
    if errors:
        intake = None
    return Checked(built.data, intake, tuple(errors))


# --- Intake JSON -> form values --------------------------------------------------------------


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def from_intake(data: Mapping[str, Any], form: Group | None = None) -> dict[str, str]:
    """Form values showing an Intake JSON object (what the form cannot show is left out)."""
    values: dict[str, str] = {}

    def fill(group: Group, obj: Any) -> None:
        if not isinstance(obj, Mapping):
            return
        for node in group.children:
            sub = obj.get(node.name)
            if sub is None:
                continue
            if isinstance(node, Group):
                fill(node, sub)
            elif isinstance(node, Instrument):
                if not isinstance(sub, Mapping):
                    continue
                items = sub.get("items")
                if isinstance(items, list):
                    for i, v in enumerate(items[: node.count]):
                        if v is not None:
                            values[node.item_path(i)] = _text(v)
                for i, alias in node.aliases.items():
                    v = sub.get(alias.rsplit(".", 1)[1])
                    if v is not None:
                        values[node.item_path(i)] = _text(v)
                for f in (node.total, *node.others):
                    if f is not None and sub.get(f.name) is not None:
                        values[f.path] = _text(sub[f.name])
            elif node.kind != "const":
                values[node.path] = _text(sub)

    fill(form or intake_form(), data)
    return values


def values_from_json(text: str, form: Group | None = None) -> tuple[dict[str, str], JSON | None]:
    """Form values from pasted or uploaded Intake JSON, and the parsed object (None if the text
    is not a JSON object: the caller reports that at the paste box)."""
    try:
        data = json.loads(text)
    except ValueError:
        return {}, None
    if not isinstance(data, dict):
        return {}, None
    return from_intake(data, form), data


# --- errors -> inputs ------------------------------------------------------------------------


def anchors(form: Group | None = None) -> dict[str, str]:
    """JSON path -> the id of the element an error at that path is shown on."""
    form = form or intake_form()
    out: dict[str, str] = {"$": "f-intake"}
    for node in form.walk():
        out[node.path] = node.id
        if isinstance(node, Instrument):
            out[node.items_path] = node.id
            for i in range(node.count):
                out[node.item_path(i)] = input_id(node.item_path(i))
            for i, alias in node.aliases.items():
                out[alias] = input_id(node.item_path(i))
            for f in (node.total, *node.others):
                if f is not None:
                    out[f.path] = f.id
    return out


def _parents(path: str) -> Iterator[str]:
    """``a.b[2].c`` -> ``a.b[2].c``, ``a.b[2]``, ``a.b``, ``a``."""
    parts = [m.group(0) for m in _PATH_PART.finditer(path)]
    for n in range(len(parts), 0, -1):
        yield "".join(parts[:n]).lstrip(".")


@dataclass(frozen=True)
class PlacedError:
    """An error as the page shows it: on which element, and whether its path was exact."""

    target: str
    path: str
    message: str
    exact: bool

    @property
    def text(self) -> str:
        return self.message if self.exact else f"{self.path}: {self.message}"


def place_errors(
    errors: tuple[FieldError, ...] | list[FieldError], form: Group | None = None
) -> list[PlacedError]:
    """Each error on the input its path names, else on the nearest enclosing fieldset."""
    where = anchors(form)
    out: list[PlacedError] = []
    for e in errors:
        target = "f-intake"
        exact = False
        for i, candidate in enumerate(_parents(e.path)):
            if candidate in where:
                target = where[candidate]
                exact = i == 0
                break
        if e.path == "$":
            exact = True
        out.append(PlacedError(target, e.path, e.message, exact))
    return out
