"""The repository tests itself: nothing the suite or the docs rely on lives outside it."""

from pathlib import Path

from .oracle import DEFAULT_PATH

ROOT = Path(__file__).resolve().parent.parent

# Files of the team's workspace that a clone does not have; spelled in pieces so that
# a search of the repository for them finds only real references.
OUTSIDE = ["../" + "shared", "threads" + "-api.md", "conversations" + "-api.md"]


def test_the_oracle_reads_openais_schemas_from_the_repository():
    assert DEFAULT_PATH.is_relative_to(ROOT)
    assert DEFAULT_PATH.is_file()
    licence = (DEFAULT_PATH.parent / "LICENSE").read_text()
    assert "MIT License" in licence and "Copyright (c) OpenAI" in licence


def test_no_readme_doc_or_test_names_a_file_outside_the_repository():
    texts = [ROOT / "README.md", *ROOT.glob("docs/**/*.md")]
    for package in ("tests", "threads_app"):
        texts += [p for p in (ROOT / package).rglob("*") if p.suffix in {".py", ".md", ".html"}]
    found = [
        f"{path.relative_to(ROOT)}: {name}"
        for path in texts
        for name in OUTSIDE
        if name in path.read_text()
    ]
    assert not found
