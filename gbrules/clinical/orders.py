"""What a draft order is, for the order-select check: declared data, read from FHIR JSON.

A clinician signing orders gets a warning only when a rule of the rulebook *names* the order:

* every order class below declares the suggestion codes it carries out (``plan_codes``: a
  low-FODMAP diet order carries out ``diet.low_fodmap_trial``) and the codes that ask for a
  review before such an order (``caution_codes``: ``probiotic.consult_first``);
* a fired rule names an order when one of its overrides takes out (defers or suppresses) one of
  the class's plan codes, by the code or by ``category.*``, exactly as the overrides act on the
  draft plan; an active caution code names it through the rule that made it.

Nothing else is judged. An order the tables below do not declare (any other medicine, an oral
nutritional supplement, a ServiceRequest) never gets a card, so a card can never ask to stop a
medicine or to remove an order no rule is about. Texture-modified diets, thickened fluids and
enteral feeds are never judged and an order that holds one is never suggested for removal: such
an order often keeps a patient with dysphagia safe, and nothing in this rulebook is about it.

Orders are recognised by code first (ATC for probiotics). Diet types have no code here: the
rulebook's diet codes have no single terminology concept each, so they are recognised by whole
words in the type's text or coding display, and the card says which words matched. A site with
coded diet orders adds its codes to ``ORDER_CLASSES`` (``codes``). Never by searching the whole
resource: a note ("no probiotics"), a patient name or a reference must not make an order match.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from gbrules.clinical.codes import CODE_VOCABULARY
from gbrules.core.result import Evaluation
from gbrules.core.rulebook import Rulebook
from gbrules.core.vocabulary import matches

OrderKind = Literal["diet", "supplement", "medicine"]
#: WHO ATC (the code system of the FHIR mapping's medication classes, docs/EHR.md).
ATC = "http://www.whocc.no/atc"


@dataclass(frozen=True)
class OrderClass:
    """One kind of draft order the rulebook can be about.

    ``kinds``: where it can appear (a diet order's type, a supplement, a medicine).
    ``plan_codes``: the suggestion codes the order carries out; a rule that defers or suppresses
    one of them names the order. ``caution_codes``: active codes that ask for a review before
    such an order. ``codes``: (system, code prefix) pairs that identify it. ``terms``: whole
    words or phrases that identify it in a name, used only when no code identified the order.
    """

    name: str
    label: str
    kinds: frozenset[OrderKind]
    plan_codes: tuple[str, ...]
    caution_codes: tuple[str, ...] = ()
    codes: tuple[tuple[str, str], ...] = ()
    terms: tuple[str, ...] = ()


ORDER_CLASSES: tuple[OrderClass, ...] = (
    OrderClass(
        "probiotic",
        "probiotic",
        frozenset({"supplement", "medicine"}),
        plan_codes=("probiotic.trial",),
        caution_codes=("probiotic.consult_first",),
        # A07FC: antidiarrheal microorganisms, the ATC class of probiotic products.
        codes=((ATC, "A07FC"),),
        terms=(
            "probiotic",
            "probiotics",
            "synbiotic",
            "lactobacillus",
            "lacticaseibacillus",
            "bifidobacterium",
            "saccharomyces boulardii",
        ),
    ),
    OrderClass(
        "low_fodmap_diet",
        "low-FODMAP diet",
        frozenset({"diet"}),
        plan_codes=("diet.low_fodmap_trial",),
        terms=("low fodmap", "low-fodmap"),
    ),
    OrderClass(
        "mediterranean_diet",
        "Mediterranean-style diet",
        frozenset({"diet"}),
        plan_codes=("diet.mediterranean",),
        terms=("mediterranean",),
    ),
    OrderClass(
        "high_fiber_diet",
        "high-fiber diet",
        frozenset({"diet"}),
        plan_codes=("diet.fiber",),
        terms=("high fiber", "high-fiber", "high fibre", "high-fibre"),
    ),
    OrderClass(
        "caffeine_reduced_diet",
        "caffeine-reduced diet",
        frozenset({"diet"}),
        plan_codes=("diet.reduce_caffeine",),
        terms=("caffeine", "decaffeinated"),
    ),
)

#: Words in a diet type that mean a texture-modified or liquid diet, or a feed: never judged.
NEVER_JUDGED_TERMS: tuple[str, ...] = (
    "puree",
    "pureed",
    "purée",
    "puréed",
    "minced",
    "mashed",
    "soft",
    "liquidised",
    "liquidized",
    "blended",
    "thickened",
    "dysphagia",
    "iddsi",
    "enteral",
    "tube feed",
    "tube feeding",
    "parenteral",
)


@dataclass(frozen=True)
class OrderPart:
    """A part of a draft order that an order class recognised, and how."""

    order_class: OrderClass
    where: str  # the element, e.g. "supplement[0].productName"
    matched: str  # "ATC A07FC" or 'the words "lactobacillus"'


@dataclass(frozen=True)
class OrderReading:
    """What a draft order holds: the recognised parts, and why it must never be removed."""

    reference: str
    parts: tuple[OrderPart, ...]
    protected: tuple[str, ...]  # e.g. "oralDiet.texture (a texture-modified diet)"


@dataclass(frozen=True)
class Naming:
    """A rule that names an order class: how, through which code, and its reason."""

    rule_id: str
    how: Literal["deferred", "suppressed", "caution"]
    code: str
    reason: str


@dataclass(frozen=True)
class Finding:
    part: OrderPart
    namings: tuple[Naming, ...]


@dataclass(frozen=True)
class OrderJudgement:
    """A draft order some rule names. ``removable`` is False when the order also holds a
    texture-modified diet, thickened fluids or an enteral feed."""

    reading: OrderReading
    findings: tuple[Finding, ...] = field(default_factory=tuple)

    @property
    def removable(self) -> bool:
        return not self.reading.protected

    @property
    def rules(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(n.rule_id for f in self.findings for n in f.namings))


def _term_pattern(terms: Sequence[str]) -> re.Pattern[str] | None:
    if not terms:
        return None
    alternatives = "|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True))
    # Not inside a word, nor after a hyphen ("non-probiotic"); "Mediterranean-style" counts.
    return re.compile(rf"(?<![\w-])(?:{alternatives})(?!\w)", re.IGNORECASE)


_TERMS = {c.name: _term_pattern(c.terms) for c in ORDER_CLASSES}
_NEVER = _term_pattern(NEVER_JUDGED_TERMS)


def _dicts(value: object) -> list[Mapping[str, Any]]:
    if isinstance(value, Mapping):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, Mapping)]
    return []


def _concept(value: object) -> Mapping[str, Any]:
    """A CodeableConcept, or the concept of an R5 CodeableReference."""
    if not isinstance(value, Mapping):
        return {}
    inner = value.get("concept")
    return inner if isinstance(inner, Mapping) else value


def _texts(concept: Mapping[str, Any], *extra: object) -> list[str]:
    """The names a concept carries (its text, its codings' displays, ``extra`` names), in NFC
    so that a composed and a decomposed "purée" read alike."""
    out = [t for t in (concept.get("text"), *extra) if isinstance(t, str)]
    out += [
        c["display"] for c in _dicts(concept.get("coding")) if isinstance(c.get("display"), str)
    ]
    return [unicodedata.normalize("NFC", t) for t in out]


def _codings(concept: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    for c in _dicts(concept.get("coding")):
        system, code = c.get("system"), c.get("code")
        if isinstance(system, str) and isinstance(code, str):
            yield system, code.replace(" ", "").upper()


def _recognise(
    kind: OrderKind, concept: Mapping[str, Any], where: str, *names: object
) -> list[OrderPart]:
    candidates = [c for c in ORDER_CLASSES if kind in c.kinds]
    coded = [
        OrderPart(c, where, f"{system.rsplit('/', 1)[-1].upper()} {code}")
        for c in candidates
        for system, code in _codings(concept)
        if any(system == s and code.startswith(p) for s, p in c.codes)
    ]
    if coded:
        return coded
    texts = _texts(concept, *names)
    found: list[OrderPart] = []
    for c in candidates:
        pattern = _TERMS[c.name]
        hits = [m.group(0).lower() for t in texts for m in pattern.finditer(t)] if pattern else []
        if hits:
            words = ", ".join(f'"{h}"' for h in dict.fromkeys(hits))
            found.append(OrderPart(c, where, f"the words {words}"))
    return found


def read_order(resource: Mapping[str, Any]) -> OrderReading:
    """The recognised parts of one draft order (a FHIR R4 resource as JSON)."""
    rtype = resource.get("resourceType")
    rid = resource.get("id")
    reference = f"{rtype}/{rid}" if isinstance(rid, str) and rid else str(rtype)
    parts: list[OrderPart] = []
    protected: list[str] = []
    if rtype == "NutritionOrder":
        if _dicts(resource.get("enteralFormula")):
            protected.append("enteralFormula (an enteral feed)")
        for diet in _dicts(resource.get("oralDiet")):
            if _dicts(diet.get("texture")):
                protected.append("oralDiet.texture (a texture-modified diet)")
            if _dicts(diet.get("fluidConsistencyType")):
                protected.append("oralDiet.fluidConsistencyType (thickened fluids)")
            for i, t in enumerate(_dicts(diet.get("type"))):
                texts = _texts(t)
                if _NEVER and any(_NEVER.search(x) for x in texts):
                    protected.append(f"oralDiet.type[{i}] (a texture-modified or liquid diet)")
                else:
                    parts += _recognise("diet", t, f"oralDiet.type[{i}]")
        for i, sup in enumerate(_dicts(resource.get("supplement"))):
            where = f"supplement[{i}]"
            parts += _recognise(
                "supplement", _concept(sup.get("type")), where, sup.get("productName")
            )
    elif rtype == "MedicationRequest":
        concept = _concept(resource.get("medicationCodeableConcept") or resource.get("medication"))
        parts += _recognise("medicine", concept, "medication")
    return OrderReading(reference, tuple(parts), tuple(dict.fromkeys(protected)))


def namings(order_class: OrderClass, ev: Evaluation, rulebook: Rulebook) -> list[Naming]:
    """The fired rules that name ``order_class``: overrides that take out one of its plan
    codes (as they would in the draft plan: protected codes are never taken out), and active
    caution codes."""
    out: list[Naming] = []
    for rule_id in ev.fired_rules:
        try:
            rule = rulebook.rule(rule_id)
        except KeyError:
            continue
        for ov in rule.overrides:
            for code in order_class.plan_codes:
                if not CODE_VOCABULARY.is_protected(code) and any(
                    matches(p, code) for p in ov.patterns
                ):
                    how: Literal["deferred", "suppressed"] = (
                        "deferred" if ov.action == "defer" else "suppressed"
                    )
                    out.append(Naming(rule_id, how, code, ov.reason))
    for code in order_class.caution_codes:
        s = ev.suggestion(code)
        if s is not None:
            out.append(Naming(s.rule_id, "caution", code, s.rationale))
    return out


def judge_order(
    resource: Mapping[str, Any], ev: Evaluation, rulebook: Rulebook
) -> OrderJudgement | None:
    """The judgement on one draft order, or None when no rule names any part of it."""
    reading = read_order(resource)
    findings = []
    for part in reading.parts:
        named = namings(part.order_class, ev, rulebook)
        if named:
            findings.append(Finding(part, tuple(named)))
    if not findings:
        return None
    return OrderJudgement(reading, tuple(findings))
