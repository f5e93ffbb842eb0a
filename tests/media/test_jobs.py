"""gradient_jobs: async-invoke jobs and their progress display (the flows are in test_image and test_embed_audio)."""
from __future__ import annotations

from gradient_inference.core import output as core_output


def test_live_progress_line_on_a_terminal():
    class Terminal:
        text = ""

        def isatty(self):
            return True

        def write(self, text):
            Terminal.text += text

        def flush(self):
            pass

    progress = core_output.Progress(Terminal())
    progress.update("IN_PROGRESS", 1.2)
    progress.update("IN_PROGRESS", 3.4)
    progress.close()
    assert Terminal.text == "\rin progress... 1 s \rin progress... 3 s \n"
