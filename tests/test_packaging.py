"""constraints.txt stays the reproducible install of setup.cfg's requirements.

constraints.txt holds the exact versions the suite was last run with; setup.cfg holds the lowest
versions the code needs. These tests read both files (and the README's test command) as text, so
they hold whatever happens to be installed.
"""

from __future__ import annotations

import configparser
import re
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
EXTRAS_PINNED = ("test", "export")  # the extras the README's test command installs


def declared_requirements(setup_cfg: Path) -> list[Requirement]:
    """install_requires and the extras of ``EXTRAS_PINNED``, as written in ``setup_cfg``."""
    config = configparser.ConfigParser()
    config.read(setup_cfg)
    lines = config["options"]["install_requires"].splitlines()
    for extra in EXTRAS_PINNED:
        lines += config["options.extras_require"][extra].splitlines()
    return [Requirement(line) for line in lines if line.strip()]


def pinned_versions(constraints: Path) -> dict[str, str]:
    """{canonical name: version} of ``constraints``; every line that is no comment must be ``NAME==VERSION``.

    Raises:
        ValueError: a line is not an exact pin, or a package is pinned twice.
    """
    pins: dict[str, str] = {}
    for number, line in enumerate(constraints.read_text().splitlines(), 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([0-9][A-Za-z0-9.!+_-]*)", text)
        if match is None:
            raise ValueError(f"{constraints}:{number}: {text!r} is not an exact pin NAME==VERSION")
        name = canonicalize_name(match[1])
        if name in pins:
            raise ValueError(f"{constraints}:{number}: {match[1]} is pinned twice")
        pins[name] = match[2]
    return pins


def readme_test_command(readme: Path) -> str:
    """The shell line that follows ``<!-- test-command -->`` in ``readme`` (code fences skipped)."""
    lines = readme.read_text().splitlines()
    start = lines.index("<!-- test-command -->")
    return next(line for line in lines[start + 1:] if line.strip() and not line.startswith("```"))


def unmet_requirements(requirements: list[Requirement], pins: dict[str, str]) -> list[str]:
    """One line per requirement that ``pins`` lacks or pins outside the requirement's range."""
    problems = []
    for requirement in requirements:
        pinned = pins.get(canonicalize_name(requirement.name))
        if pinned is None:
            problems.append(f"{requirement}: not in constraints.txt")
        elif not requirement.specifier.contains(Version(pinned), prereleases=True):
            problems.append(f"{requirement}: constraints.txt pins {pinned}")
    return problems


def test_constraints_are_exact_pins():
    pins = pinned_versions(ROOT / "constraints.txt")
    assert len(pins) > len(declared_requirements(ROOT / "setup.cfg"))  # transitive ones too


def test_every_requirement_is_pinned_within_its_floor():
    requirements = declared_requirements(ROOT / "setup.cfg")
    assert unmet_requirements(requirements, pinned_versions(ROOT / "constraints.txt")) == []


def test_torch_pin_is_the_one_the_readme_installs():
    command = readme_test_command(ROOT / "README.md")
    installed = re.findall(r"pip install torch==(\S+)", command)
    assert len(installed) == 1, f"the README's test command should install one exact torch: {command!r}"
    assert pinned_versions(ROOT / "constraints.txt")["torch"] == installed[0]


@pytest.mark.parametrize(("line", "problem"), [
    ("numpy>=2.0", "is not an exact pin"),
    ("numpy", "is not an exact pin"),
    ("numpy==2.4.6\nNumPy==2.4.6", "pinned twice"),
])
def test_loose_or_repeated_pins_are_refused(tmp_path: Path, line: str, problem: str):
    constraints = tmp_path / "constraints.txt"
    constraints.write_text(f"# header\ntorch==2.13.0\n{line}\n")
    with pytest.raises(ValueError, match=problem):
        pinned_versions(constraints)


def test_a_pin_below_a_floor_or_missing_is_reported():
    requirements = [Requirement("numpy>=1.26"), Requirement("jsonargparse[signatures]>=4.27"), Requirement("av>=12")]
    problems = unmet_requirements(requirements, {"numpy": "1.25.2", "jsonargparse": "4.27.0"})
    assert problems == ["numpy>=1.26: constraints.txt pins 1.25.2", "av>=12: not in constraints.txt"]
