"""Loader errors: one bad rulebook per kind of mistake, each naming file and rule id."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from gbrules.clinical.domain import default_rules_dir, load_rulebook
from gbrules.core.errors import RulebookError

GOOD = """
  - id: site.sleep.short
    title: Short sleep
    when: "sleep_hours < 6"
    then:
      code: sleep.hygiene
      rationale: Sleep {sleep_hours} h.
    evidence: ["Buysse 1989"]
"""


def write(tmp_path: Path, body: str, name: str = "site.yaml") -> Path:
    (tmp_path / name).write_text("rules:\n" + textwrap.dedent(body).strip("\n").join(["", "\n"]))
    return tmp_path


def problems(*dirs: Path) -> str:
    with pytest.raises(RulebookError) as info:
        load_rulebook(*dirs)
    return "\n".join(info.value.problems)


def test_default_rulebook_loads() -> None:
    rb = load_rulebook()
    assert len(rb.rules) >= 20
    assert rb.version_label.startswith("1.1.0+")
    assert [r.order for r in rb.rules] == list(range(len(rb.rules)))


def test_a_valid_site_pack_loads(tmp_path: Path) -> None:
    rb = load_rulebook(default_rules_dir(), write(tmp_path, GOOD))
    assert rb.rules[-1].id == "site.sleep.short"
    assert rb.rules[-1].origin == "site"


def test_content_hash_changes_with_content(tmp_path: Path) -> None:
    a = load_rulebook(write(tmp_path, GOOD)).content_hash
    b = load_rulebook(write(tmp_path, GOOD.replace("< 6", "< 5"))).content_hash
    assert a != b


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (GOOD.replace("sleep_hours < 6", "sleep_hourz < 6"), "unknown fact 'sleep_hourz'"),
        (GOOD.replace("sleep.hygiene", "sleep.nap"), "unknown suggestion code 'sleep.nap'"),
        (GOOD.replace('"sleep_hours < 6"', '"sleep_hours ~ 6"'), "cannot read"),
        (GOOD.replace('"sleep_hours < 6"', "{maybe: [x]}"), "unknown condition key"),
        (GOOD.replace('"sleep_hours < 6"', '"ibs >= 1"'), "true/false"),
        (GOOD.replace('"sleep_hours < 6"', '"phq9_band == awful"'), "takes one of"),
        (GOOD.replace('"sleep_hours < 6"', '"phq9_total > 9.5"'), "whole number"),
        (GOOD.replace('"sleep_hours < 6"', "{all: []}"), "non-empty list"),
        (GOOD.replace('evidence: ["Buysse 1989"]', "evidence: []"), "evidence"),
        (
            GOOD.replace("Sleep {sleep_hours} h.", "Sleep {sleep_hourz} h."),
            "unknown fact {sleep_hourz}",
        ),
        (GOOD.replace("id: site.sleep.short", "id: Bad Id"), "id"),
        (GOOD + "    colour: blue\n", "colour"),
        (GOOD + GOOD, "duplicate id"),
    ],
)
def test_bad_rule_is_a_load_error_naming_file_and_rule(
    tmp_path: Path, body: str, expected: str
) -> None:
    text = problems(write(tmp_path, body))
    assert expected in text
    assert "site.yaml:" in text


def test_problem_names_the_rule_id_and_line(tmp_path: Path) -> None:
    text = problems(write(tmp_path, GOOD.replace("sleep_hours < 6", "sleep_hourz < 6")))
    assert "site.yaml:2: rule site.sleep.short" in text


def test_duplicate_id_across_default_and_site_pack(tmp_path: Path) -> None:
    clash = GOOD.replace("site.sleep.short", "sleep.short_or_poor")
    assert "duplicate id" in problems(default_rules_dir(), write(tmp_path, clash))


@pytest.mark.parametrize("pattern", ["safety.crisis", "safety.*", "referral.urgent_gi"])
@pytest.mark.parametrize("action", ["suppress", "defer"])
def test_overrides_can_never_touch_protected_codes(
    tmp_path: Path, pattern: str, action: str
) -> None:
    body = GOOD + f'    overrides:\n      - {action}: ["{pattern}"]\n        reason: site policy\n'
    assert "protected safety code" in problems(default_rules_dir(), write(tmp_path, body))


def test_site_pack_may_suppress_routine_codes(tmp_path: Path) -> None:
    body = GOOD + '    overrides:\n      - suppress: ["diet.*"]\n        reason: site policy\n'
    rb = load_rulebook(default_rules_dir(), write(tmp_path, body))
    assert rb.rules[-1].overrides[0].patterns == ("diet.*",)


def test_protected_code_cannot_be_demoted(tmp_path: Path) -> None:
    body = GOOD.replace("code: sleep.hygiene", "code: safety.crisis\n      priority: routine")
    assert "cannot be emitted below 'critical'" in problems(write(tmp_path, body))


def test_unknown_override_pattern(tmp_path: Path) -> None:
    body = GOOD + '    overrides:\n      - suppress: ["diet.nothing"]\n        reason: x\n'
    assert "names no known code" in problems(write(tmp_path, body))


def test_yaml_aliases_are_refused(tmp_path: Path) -> None:
    (tmp_path / "bomb.yaml").write_text('a: &a ["x", "x"]\nb: [*a, *a]\nrules: []\n')
    assert "anchors and aliases" in problems(tmp_path)


def test_yaml_tags_cannot_execute_code(tmp_path: Path) -> None:
    (tmp_path / "evil.yaml").write_text("rules: !!python/object/apply:os.system ['echo hi']\n")
    assert "not valid YAML" in problems(tmp_path)


def test_huge_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "big.yaml").write_text("rules: []\n# " + "x" * 1_100_000 + "\n")
    assert "larger than" in problems(tmp_path)


def test_manifest_lists_missing_file(tmp_path: Path) -> None:
    (tmp_path / "rulebook.yaml").write_text("name: x\nversion: 1.0.0\nfiles: [nope.yaml]\n")
    assert "missing" in problems(tmp_path)


def test_empty_directory(tmp_path: Path) -> None:
    assert "no rule files" in problems(tmp_path)


def test_the_declared_population_agrees_with_the_out_of_scope_rule() -> None:
    """rules/rulebook.yaml declares population.min_age; the one rule that drafts
    safety.out_of_scope must fire exactly below that age, so the two cannot drift apart."""
    from gbrules.core.language import Cmp

    rb = load_rulebook()
    assert rb.min_age == 12
    out_of_scope = [r for r in rb.rules if r.code == "safety.out_of_scope"]
    assert [r.condition for r in out_of_scope] == [Cmp("age", "<", rb.min_age)]
    # Nothing else compares age below the minimum (it would be dead or a second boundary).
    from gbrules.core.language import leaves

    for rule in rb.rules:
        for leaf in leaves(rule.condition):
            if isinstance(leaf, Cmp) and leaf.fact == "age" and rule not in out_of_scope:
                assert isinstance(leaf.value, int) and leaf.value >= rb.min_age, rule.id


def test_a_manifest_may_omit_the_population(tmp_path: Path) -> None:
    assert load_rulebook(write(tmp_path, GOOD)).min_age is None


SETTINGS_PACK = """
name: site settings
version: 1.0.0
settings:
  crisis_country: {country}
files: []
"""


def test_a_site_pack_chooses_the_crisis_country(tmp_path: Path) -> None:
    """The default rulebook is set for the US; a pack's manifest (no rule files) picks the UK,
    and the settings change the content hash (a draft says which configuration made it)."""
    default = load_rulebook()
    assert default.settings == {"crisis_country": "US"}
    (tmp_path / "rulebook.yaml").write_text(SETTINGS_PACK.format(country="UK"))
    uk = load_rulebook(default_rules_dir(), tmp_path)
    assert uk.settings == {"crisis_country": "UK"}
    assert uk.content_hash != default.content_hash
    assert len(uk.rules) == len(default.rules)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (SETTINGS_PACK.format(country="FR"), "'FR' is not one of US, UK"),
        (SETTINGS_PACK.format(country="UK").replace("crisis_country", "theme"), "unknown setting"),
    ],
)
def test_a_bad_setting_is_a_load_error(tmp_path: Path, text: str, expected: str) -> None:
    (tmp_path / "rulebook.yaml").write_text(text)
    assert expected in problems(default_rules_dir(), tmp_path)
