"""Importing the ui package keeps Gradio from writing type stubs at import (ui/stubs.py).

Each check runs in a fresh interpreter: Gradio is imported once per process, and the hook only matters before
that import.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# a component defined outside Gradio: Gradio's metaclass writes a stub beside its module when it is defined
_COMPONENT = textwrap.dedent(
    '''
    import gradio as gr


    class NoteBox(gr.Textbox):
        """A made-up component."""
    '''
)


def _define_component(tmp_path: Path, first: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "notebox.py").write_text(_COMPONENT)
    code = (
        f"{first}\n"
        "import gradio, gradio.component_meta as meta, notebox\n"
        "print(meta.create_or_modify_pyi.__module__)\n"
        "print(type(notebox.NoteBox(value='x')).__name__)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO)])}
    return subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=True
    )


def test_gradio_alone_writes_a_stub_beside_a_new_component(tmp_path: Path) -> None:
    """The control: what the hook prevents does happen without it."""
    out = _define_component(tmp_path, "pass")
    assert out.stdout.split() == ["gradio.component_meta", "NoteBox"]
    assert (tmp_path / "notebox.pyi").exists()


def test_importing_ui_first_spares_the_stub_writer(tmp_path: Path) -> None:
    out = _define_component(tmp_path, "import ui")
    assert out.stdout.split() == ["ui.stubs", "NoteBox"]  # the component still works
    assert not (tmp_path / "notebox.pyi").exists()


def test_the_hook_after_gradio_spares_later_components(tmp_path: Path) -> None:
    out = _define_component(tmp_path, "import gradio\nfrom ui.stubs import skip_stub_writer\nskip_stub_writer()")
    assert out.stdout.split()[0] == "ui.stubs"
    assert not (tmp_path / "notebox.pyi").exists()


def test_tracebacks_still_read_gradio_source(tmp_path: Path) -> None:
    """The wrapped loader hands on what tracebacks and ``inspect`` ask a loader for."""
    code = (
        "import ui, inspect, gradio.component_meta as meta\n"
        "print(meta.__loader__.get_source('gradio.component_meta') == inspect.getsource(meta))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=True
    )
    assert out.stdout.strip() == "True"
