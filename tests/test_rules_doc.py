"""docs/RULES.md's worked example is a real site pack, and the generated parts are current.

The example is built from the page itself (the block marked ``<!-- file:
site-pack/caffeine.yaml -->``), loaded on top of the default rulebook, linted, and fired on
both sides of its threshold; the repository's copy (examples/site-pack/) and its scenarios
(features/site_pack_caffeine.feature, run by the BDD suite) must be the page's text.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gbrules.clinical.domain import CLINICAL
from gbrules.clinical.engine import Engine
from gbrules.core.lint import Finding
from gbrules.core.lint import lint as core_lint
from gbrules.tools.docs import REGENERATE, stale

from .doc_blocks import ROOT, Block, blocks, matches_output

RULES_MD = ROOT / "docs" / "RULES.md"
RULE_ID = "site.caffeine.ibs_over_three_cups"


def lint(directory: Path) -> list[Finding]:
    """The linter on the clinical domain, as `gbrules rules lint DIR` runs it."""
    return core_lint(directory, CLINICAL)


def _one(found: list[Block], what: str) -> Block:
    assert len(found) == 1, f"docs/RULES.md should have one {what} block, has {len(found)}"
    return found[0]


def _file_block(name: str) -> Block:
    return _one([b for b in blocks(RULES_MD) if b.writes == name], name)


def _gherkin_block() -> Block:
    return _one([b for b in blocks(RULES_MD) if b.lang == "gherkin"], "gherkin")


@pytest.fixture(scope="module")
def pack(tmp_path_factory: pytest.TempPathFactory) -> Path:
    block = _file_block("site-pack/caffeine.yaml")
    folder = tmp_path_factory.mktemp("doc") / "site-pack"
    folder.mkdir()
    (folder / "caffeine.yaml").write_text(block.text, encoding="utf-8")
    return folder


def test_the_worked_example_loads_lints_clean_and_fires_on_the_right_side(pack: Path) -> None:
    assert lint(pack) == []
    engine = Engine.default(pack)
    try:

        def fired(intake: dict[str, object]) -> bool:
            ev = engine.evaluate(intake)
            return any(s.rule_id == RULE_ID for s in ev.suggestions)

        ibs = {"conditions": {"ibs": True}}
        assert fired({"age": 40, **ibs, "lifestyle": {"caffeine_mg_per_day": 320}})
        assert not fired({"age": 40, **ibs, "lifestyle": {"caffeine_mg_per_day": 300}})
        assert not fired({"age": 40, **ibs})  # not recorded is not "over 300"
        no_ibs = {"conditions": {"ibs": False}, "lifestyle": {"caffeine_mg_per_day": 320}}
        assert not fired({"age": 40, **no_ibs})
        ev = engine.evaluate({"age": 40, **ibs, "lifestyle": {"caffeine_mg_per_day": 320}})
        (s,) = [s for s in ev.suggestions if s.code == "diet.reduce_caffeine"]
        python_block = next(b for b in blocks(RULES_MD) if b.lang == "python")
        assert not matches_output(python_block.expected_output(), f"{s.rule_id}\n{s.rationale}")
    finally:
        engine.close()


def test_the_repository_copy_and_scenarios_are_the_page() -> None:
    pack_text = (ROOT / "examples" / "site-pack" / "caffeine.yaml").read_text(encoding="utf-8")
    assert pack_text == _file_block("site-pack/caffeine.yaml").text
    feature = (ROOT / "features" / "site_pack_caffeine.feature").read_text(encoding="utf-8")
    assert feature == _gherkin_block().text
    assert 'Given the site rule pack "examples/site-pack"' in feature


def test_generated_sections_are_current() -> None:
    assert stale() == [], f"run `{REGENERATE}`"


def test_the_page_covers_every_operator_of_the_condition_language() -> None:
    from gbrules.core.language import CMP_OPS

    text = RULES_MD.read_text(encoding="utf-8")
    for op in CMP_OPS:
        assert f"fact {op} " in text, op
    for form in ("is missing", "is recorded", "all:", "any:", "not:", "suppress", "defer"):
        assert form in text
