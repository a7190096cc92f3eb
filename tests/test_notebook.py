"""examples/walkthrough.ipynb runs top to bottom (tiny sizes: DCGAN_NOTEBOOK_QUICK=1), so it cannot rot.

A cell that raises fails this test. Outputs are not kept in git: the notebook is committed clean.
"""
import json
import os
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOK = os.path.join(ROOT, "examples", "walkthrough.ipynb")


def test_notebook_is_committed_without_outputs():
    with open(NOTEBOOK) as f:
        cells = json.load(f)["cells"]
    code = [c for c in cells if c["cell_type"] == "code"]
    assert code and all(not c["outputs"] and c["execution_count"] is None for c in code)


def run_notebook(tmp_path, monkeypatch, **settings):
    """The notebook top to bottom in QUICK mode, writing only under tmp_path; all its printed text."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    monkeypatch.setenv("DCGAN_NOTEBOOK_QUICK", "1")
    monkeypatch.setenv("DCGAN_DATA_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("DCGAN_NOTEBOOK_RUNS", str(tmp_path / "runs"))      # never the checkout's runs/
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    nb = nbformat.read(NOTEBOOK, as_version=4)
    started = time.perf_counter()
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": os.path.join(ROOT, "examples")}}).execute()
    print(f"notebook ran in {time.perf_counter() - started:.1f} s")
    return "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)


def test_notebook_runs_top_to_bottom(tmp_path, monkeypatch):
    """Quick mode, nothing set: the tiny stand-in data its text describes, nothing downloaded."""
    text = run_notebook(tmp_path, monkeypatch)
    assert "backend: numpy" in text and "caught: True" in text and "equal: True" in text
    assert "largest weight difference after the step: 0.0e+00" in text
    assert "training on mnist from " in text and "tiny-mnist-" in text
    assert "exit code 0" in text
    assert not os.path.exists(tmp_path / "cache")                         # nothing was downloaded
    assert "--data-dir" in text.split("no classifier at hand")[1]         # the suggested command needs no download


def test_notebook_trains_on_the_data_folder_it_is_given(tmp_path, monkeypatch, tiny_mnist):
    """DATA_DIR at the top (here through DCGAN_NOTEBOOK_DATA): an offline run on a local folder."""
    text = run_notebook(tmp_path, monkeypatch, DCGAN_NOTEBOOK_DATA=tiny_mnist, DCGAN_NOTEBOOK_DATASET="mnist")
    assert f"training on mnist from {tiny_mnist}" in text and "exit code 0" in text
    assert os.path.exists(tmp_path / "runs" / "notebook" / "checkpoint.npz")


def test_a_hosted_notebook_upgrades_a_cupy_older_than_admitted(monkeypatch):
    """The set-up cell's upgrade_preinstalled_cupy (it runs only in a hosted notebook, so the run above
    never reaches it): CuPy 13.x is upgraded within its CUDA wheel, 14.x is left alone."""
    import subprocess
    import sys
    from importlib import metadata

    from nn import backend
    with open(NOTEBOOK) as f:
        setup = "".join(json.load(f)["cells"][2]["source"])
    start = setup.index("def upgrade_preinstalled_cupy")
    definition = setup[start:setup.index("\nif hosted:", start)]
    for installed, expected in (("13.3.0", [sys.executable, "-m", "pip", "install", "-q", "-U", "cupy-cuda12x>=14.0"]),
                                ("14.2.0", None)):
        def version(wheel):
            if wheel == "cupy-cuda12x":
                return installed
            raise metadata.PackageNotFoundError(wheel)
        ran = []
        monkeypatch.setattr(metadata, "version", version)
        monkeypatch.setattr(subprocess, "run", lambda command, **kw: ran.append(command))
        namespace = {"backend": backend, "subprocess": subprocess, "sys": sys}
        exec(definition, namespace)
        namespace["upgrade_preinstalled_cupy"]()
        assert ran == ([expected] if expected else []), installed
