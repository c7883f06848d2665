"""The cached loader behind ``gbrules.evaluate``: one compiled engine per rule directories,
checked for changed files at most once per interval, rebuilt on ``reload()``."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

import gbrules
from gbrules.clinical.domain import default_rules_dir
from gbrules.clinical.engine import LOADER, Engine
from gbrules.core.errors import RulebookError
from gbrules.core.loader import EngineLoader

RULE = textwrap.dedent(
    """\
    rules:
      - id: site.short_sleep
        title: short sleep
        when: "sleep_hours < {limit}"
        then: {{code: sleep.hygiene, rationale: "sleep {{sleep_hours}} h"}}
        evidence: [test]
    """
)
SHORT = {"age": 30, "lifestyle": {"sleep_hours": 5.5}}


class Clock:
    """The loader's clock, moved by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def write(pack: Path, limit: int) -> None:
    pack.mkdir(exist_ok=True)
    (pack / "r.yaml").write_text(RULE.format(limit=limit))


@pytest.fixture
def built() -> list[tuple[str, ...]]:
    return []


@pytest.fixture
def loader(built: list[tuple[str, ...]]) -> tuple[EngineLoader[Engine], Clock]:
    clock = Clock()

    def build(*dirs: str) -> Engine:
        built.append(dirs)
        return Engine.from_directory(*dirs)

    return EngineLoader(build, lambda: (default_rules_dir(),), size=2, clock=clock), clock


def fires(engine: Engine) -> bool:
    return "site.short_sleep" in engine.evaluate(SHORT).fired_rules


def test_one_engine_per_pack_until_the_files_change(
    tmp_path: Path, loader: tuple[EngineLoader[Engine], Clock], built: list[tuple[str, ...]]
) -> None:
    cache, clock = loader
    pack = tmp_path / "pack"
    write(pack, 6)
    first = cache.engine(pack)
    assert cache.engine(pack) is first and cache.engine(str(pack)) is first
    assert fires(first)
    write(pack, 5)  # a changed threshold: size differs, so does the stamp
    clock.now += 0.5
    assert cache.engine(pack) is first  # within the interval nothing is looked at
    clock.now += 0.6
    second = cache.engine(pack)
    assert second is not first and not fires(second)
    clock.now += 5
    assert cache.engine(pack) is second  # checked again, unchanged: kept
    assert len([d for d in built if str(pack.resolve()) in d]) == 2


def test_reload_rebuilds_at_once(
    tmp_path: Path, loader: tuple[EngineLoader[Engine], Clock], built: list[tuple[str, ...]]
) -> None:
    cache, _ = loader
    pack = tmp_path / "pack"
    write(pack, 6)
    first = cache.engine(pack)
    write(pack, 5)
    cache.reload()
    assert not fires(cache.engine(pack))
    assert cache.engine(pack) is not first


def test_a_failed_rebuild_leaves_nothing_behind(
    tmp_path: Path, loader: tuple[EngineLoader[Engine], Clock]
) -> None:
    cache, clock = loader
    pack = tmp_path / "pack"
    write(pack, 6)
    cache.engine(pack)
    (pack / "r.yaml").write_text("rules: [oops\n")
    clock.now += 2
    for _ in range(2):  # every call says so until the file is mended
        with pytest.raises(RulebookError, match="not valid YAML"):
            cache.engine(pack)
    write(pack, 6)
    assert fires(cache.engine(pack))


def test_at_most_size_engines_are_kept(
    tmp_path: Path, loader: tuple[EngineLoader[Engine], Clock], built: list[tuple[str, ...]]
) -> None:
    cache, _ = loader
    packs = [tmp_path / f"p{i}" for i in range(3)]
    for p in packs:
        write(p, 6)
        cache.engine(p)
    cache.engine(packs[2])
    cache.engine(packs[0])  # the oldest was dropped: built again
    assert len(built) == 4


def test_gbrules_evaluate_uses_the_default_loader_and_reload(tmp_path: Path) -> None:
    pack = tmp_path / "pack"
    write(pack, 6)
    assert "site.short_sleep" in gbrules.evaluate(SHORT, rules=pack).fired_rules
    assert LOADER.engine(pack) is LOADER.engine(pack)
    write(pack, 5)
    gbrules.reload()
    assert "site.short_sleep" not in gbrules.evaluate(SHORT, rules=pack).fired_rules
