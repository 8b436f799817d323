"""The docs stand alone in the repository: docs/architecture.md maps every package and module to its
job, links the other docs and points nowhere outside the repository; README says what a fresh machine
downloads and how to reproduce Table 2."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ARCHITECTURE = ROOT / "docs" / "architecture.md"


def modules() -> list[str]:
    out = []
    for package in ("harness", "envs", "policies", "wam_eval"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if path.name in ("__init__.py", "__main__.py") or "__pycache__" in path.parts:
                continue
            out.append(path.relative_to(ROOT).as_posix())
    return out


def packages() -> list[str]:
    return sorted(
        p.parent.relative_to(ROOT).as_posix() + "/"
        for package in ("harness", "envs", "policies", "wam_eval")
        for p in (ROOT / package).rglob("__init__.py")
        if "__pycache__" not in p.parts
    )


def table_rows(text: str) -> dict[str, str]:
    """`path` -> the job its table row gives it."""
    rows = {}
    for line in text.splitlines():
        m = re.match(r"\|\s*`([^`]+)`\s*\|\s*(.+?)\s*\|\s*$", line)
        if m:
            rows[m.group(1)] = m.group(2)
    return rows


def test_architecture_maps_every_package_and_module_to_its_job():
    text = ARCHITECTURE.read_text()
    rows = table_rows(text)
    missing = [m for m in modules() if m not in rows]
    assert not missing, f"modules without a row in docs/architecture.md: {missing}"
    for package in packages():
        assert f"`{package}" in text, f"package {package} is not named in docs/architecture.md"
    assert all(len(job) > 8 for job in rows.values()), "a row without a job"
    stale = [p for p in rows if p.endswith(".py") and not (ROOT / p).is_file()]
    assert not stale, f"rows for modules that no longer exist: {stale}"


def test_architecture_stands_alone_and_links_the_other_docs():
    text = ARCHITECTURE.read_text()
    links = re.findall(r"\]\(([^)]+)\)", text)
    for link in links:
        target = (ARCHITECTURE.parent / link.split("#")[0]).resolve()
        assert ROOT in target.parents or target == ROOT, f"{link} points outside the repository"
        assert target.exists(), f"{link} does not exist"
    assert "shared/" not in text and "DESIGN.md" not in text
    linked = {(ARCHITECTURE.parent / link).resolve() for link in links}
    for doc in sorted((ROOT / "docs").glob("*.md")):
        if doc != ARCHITECTURE:
            assert doc.resolve() in linked, f"docs/architecture.md does not link {doc.name}"
    assert (ROOT / "README.md").resolve() in linked


def test_readme_says_what_a_fresh_machine_downloads_and_how_to_reproduce_table_2():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## What a fresh machine downloads")[1].split("\n## ")[0]
    for needed in ("CPU", "CUDA", "constraints.txt", "MB", "GB"):
        assert needed in section, needed
    recipe = readme.split("## Reproduce Table 2")[1].split("\n## ")[0]
    assert "wam-eval reproduce table2" in recipe or "wam-eval run" in recipe
    assert "H100" in recipe and "CPU" in recipe, "a time estimate per GPU class"
    assert "2000 episodes" in recipe
