"""examples/quickstart.ipynb runs top to bottom with a real kernel at a tiny budget (issue 17 item 1), and its
cells show what it promises: HTML tables (Results, the benchmark's rows) and images (figures, the GIFs)."""

from pathlib import Path


NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "quickstart.ipynb"


def outputs(nb, kind: str) -> list:
    """The data of ``kind`` (a MIME type) that the code cells' outputs hold, in order."""
    return [out["data"][kind] for cell in nb.cells if cell.cell_type == "code"
            for out in cell.get("outputs", []) if kind in out.get("data", {})]


def test_committed_without_outputs():
    import nbformat

    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert code and all(not cell.outputs and cell.execution_count is None for cell in code)


def test_quickstart_runs_and_shows_tables_and_animations(tmp_path, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    out = tmp_path / "out"
    for name, value in (("STEPS", "3"), ("SCENES", "40,30"), ("THREADS", "1"), ("OUT", str(out))):
        monkeypatch.setenv(f"CSSLAB_NOTEBOOK_{name}", value)  # the kernel inherits this process's environment
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs if o.output_type == "error"]
    assert not errors
    streams = "".join(o.get("text", "") for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs
                      if o.output_type == "stream")
    assert "mib task 0 of 0..4: step 3/3" in streams and "mib task 4 of 0..4: step 3/3" in streams  # not silent
    tables = [html for html in outputs(nb, "text/html") if "<table" in html]
    assert any("mib on 2-2-2-2-2" in html for html in tables)  # Results, as a table
    assert any("finetune" in html and "mib" in html for html in tables)  # the benchmark's rows
    assert len(outputs(nb, "image/gif")) == 2  # the confusion and prediction animations, inline
    assert len(outputs(nb, "image/png")) >= 3  # scenes, background shift, benchmark chart
    assert (out / "mib" / "results.json").is_file() and (out / "benchmark" / "benchmark.json").is_file()
