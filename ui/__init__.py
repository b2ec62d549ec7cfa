"""The Gradio chat UI (``ui.chat``), a thin shell over ``assistant.service.Assistant``.

Importing this package keeps Gradio from rewriting its installed type stubs at import (3 s of CPU that hold the
GIL during a server's cold start; ``ui/stubs.py``), so import ``ui`` before ``gradio``.
"""

from ui.stubs import skip_stub_writer

skip_stub_writer()
