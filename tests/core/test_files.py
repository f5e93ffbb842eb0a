"""gradient_files: local inputs and safe output files (the end-to-end flows are in the command tests)."""
from __future__ import annotations

import pytest

from gradient_inference.core import outfiles as core_outfiles


@pytest.mark.parametrize("output, n, expected", [
    (None, 1, ["./gradient-image-S.png"]), (None, 2, ["./gradient-image-S-1.png", "./gradient-image-S-2.png"]),
    ("a.webp", 1, ["a.webp"]), ("a.jpeg", 2, ["a-1.jpeg", "a-2.jpeg"]), ("a.v2", 1, ["a.v2.png"]),
])
def test_planned_paths(output, n, expected):
    assert core_outfiles.planned_paths(output, n, ".png", "S", "gradient-image",
                                        {".png", ".jpg", ".jpeg", ".webp", ".gif"}) == expected
