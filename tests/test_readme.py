"""README.md and docs/ stay true: every Python block runs as printed, every command's flags parse with
the program's own parser, every link points at a file that exists."""
import glob
import importlib
import os
import re
import shlex
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCUMENTS = ["README.md", *sorted(os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, "docs", "*.md")))]


def read(document):
    with open(os.path.join(ROOT, document)) as f:
        return f.read()


def blocks(language):
    """(document, text) of every ```language block in README.md and docs/."""
    return [(doc, code) for doc in DOCUMENTS
            for code in re.findall(rf"^```{language}\n(.*?)^```", read(doc), flags=re.S | re.M)]


def commands():
    """(document, argv) of every `python dcgan.py ...`, `python -m examples.X ...` and `python -m exercises ...` in a
    bash block:
    continuation lines joined, comments, environment settings and optional [brackets] dropped."""
    found = []
    for doc, code in blocks("bash"):
        for line in code.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            while words and re.match(r"^[A-Z_]+=", words[0]):
                words = words[1:]
            if words[:2] == ["python", "dcgan.py"] or words[:2] == ["python", "-m"] and (
                    words[2].startswith("examples.") or words[2] == "exercises"):
                if "..." not in words:                      # an elided command in prose
                    found.append((doc, [w for w in words if w not in ("[", "]")]))
    return found


def test_the_readme_and_docs_have_what_this_file_checks():
    assert len(blocks("python")) >= 2 and len(commands()) >= 15
    assert {"README.md", "docs/usage.md", "docs/protection.md", "docs/tour.md"} <= set(DOCUMENTS)


@pytest.mark.parametrize("doc,code", blocks("python"), ids=lambda x: x.strip().splitlines()[-1][:40])
def test_python_block_runs_as_printed(doc, code):
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"this block of {doc} fails:\n{code}\n{done.stderr}"


def parser_of(argv):
    """The argparse parser the command ``argv`` (after ``python``) runs, and its arguments."""
    from gan import cli
    if argv[0] == "dcgan.py":
        rest = argv[1:]
        if rest[:1] == ["generate"]:
            return cli.generate_parser(), rest[1:]
        if rest[:1] == ["evaluate"]:
            return cli.evaluate_parser(), rest[1:]
        if rest[:1] == ["doctor"]:
            return cli.doctor_parser(), rest[1:]
        from gan.cli import pytorch_spellings
        return cli.train_parser(), pytorch_spellings(rest[1:] if rest[:1] == ["train"] else rest)
    module = "exercises.__main__" if argv[1] == "exercises" else argv[1]
    return importlib.import_module(module).parser(), argv[2:]


@pytest.mark.parametrize("doc,argv", commands(), ids=lambda x: " ".join(x)[:60] if isinstance(x, list) else x)
def test_command_flags_parse(doc, argv):
    """A renamed or removed flag turns the command that names it red."""
    parser, args = parser_of(argv[1:])
    try:
        parser.parse_args(args)
    except SystemExit as e:
        pytest.fail(f"{doc}: `{' '.join(argv)}` does not parse (exit {e.code})")


@pytest.mark.parametrize("doc", DOCUMENTS)
def test_links_point_at_files_that_exist(doc):
    folder = os.path.dirname(os.path.join(ROOT, doc))
    targets = re.findall(r"\]\(([^)\s]+)\)", read(doc))
    missing = [t for t in targets if not re.match(r"[a-z]+:|#", t)
               and not os.path.exists(os.path.join(folder, t.split("#")[0]))]
    assert missing == []
