"""gradient_pricepage: reading DigitalOcean's pricing page (HTML and its Markdown twin) into rows."""
from __future__ import annotations

from pathlib import Path

import pytest

from gradient_inference.models import price_page as models_price_page

FIXTURES = Path(__file__).parents[1] / "fixtures"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def compact(rows):
    return {(r["provider"], r["model"]): {k: v for k, v in r.items() if v is not None and k not in ("provider", "model")}
            for r in rows}


# ---------------------------------------------------------------- parsing

def test_2026_tab_layout():
    rows = compact(models_price_page.parse_html(fixture("pricing_2026_tabs.html")))
    assert rows[("OpenAI", "gpt-oss-120b")] == {"input_price": 0.1, "output_price": 0.7, "unit": "per 1M tokens"}
    assert rows[("OpenAI", "gpt-oss-20b")] == {"input_price": 0.05, "output_price": 0.45, "unit": "per 1M tokens"}
    assert rows[("OpenAI", "GPT-5")]["cached_input_price"] == 0.125
    assert rows[("OpenAI", "GPT-5 mini")] == {"input_price": 0.25, "output_price": 2.0, "unit": "per 1M tokens"}
    assert rows[("Anthropic", "Claude 3.7 Sonnet")]["output_price"] == 15.0
    assert rows[("Meta", "Llama 3.3 Instruct-70B")] == {"input_price": 0.65, "output_price": 0.65,
                                                        "unit": "per 1M tokens"}
    assert rows[("Alibaba", "Qwen3-32B")]["output_price"] == 0.55
    assert rows[("DeepSeek", "DeepSeek R1 Distill Llama 70B")]["input_price"] == 0.99
    per_unit = {model: (r["price"], r["unit"]) for (_, model), r in rows.items() if "price" in r}
    assert per_unit == {"fal-ai/flux/schnell": (0.003, "per megapixel"), "GPT Image 1": (0.04, "per image"),
                        "Stable Audio 2.5": (0.2, "per second"),
                        "ElevenLabs Multilingual v2": (0.1, "per 1K characters"),
                        "Dedicated indexing cluster": (1000.0, "per month")}
    assert not any(model == "GPT-6 preview" for _, model in rows)


def test_headings_layout_with_separate_columns_and_commas():
    rows = compact(models_price_page.parse_html(fixture("pricing_headings.html")))
    assert rows == {
        ("OpenAI", "gpt-oss-120b"): {"input_price": 0.1, "output_price": 0.7, "unit": "per 1M tokens"},
        ("OpenAI", "gpt-oss-20b"): {"input_price": 0.05, "output_price": 0.45, "unit": "per 1M tokens"},
        ("Meta", "Llama 3.3 Instruct-70B"): {"input_price": 0.65, "output_price": 0.65, "unit": "per 1M tokens"},
        ("Big spenders", "Mega Model"): {"input_price": 1250.5, "output_price": 1250.5, "unit": "per 1M tokens"},
    }


def test_markdown_twin():
    rows = compact(models_price_page.parse_markdown(fixture("pricing_twin.md")))
    assert rows == {
        ("OpenAI", "gpt-oss-120b"): {"input_price": 0.1, "output_price": 0.7, "unit": "per 1M tokens"},
        ("OpenAI", "GPT-5"): {"input_price": 1.25, "output_price": 10.0, "unit": "per 1M tokens"},
        ("Meta", "Llama 3.3 Instruct-70B"): {"input_price": 0.65, "output_price": 0.65, "unit": "per 1M tokens"},
        ("", "GPT Image 1"): {"price": 0.04, "unit": "per image"},  # "Images" is a section, not a vendor
    }


@pytest.mark.parametrize("cell, expected", [
    ("$0.10 per 1M input tokens\n$0.70 per 1M output tokens", {"input_price": 0.1, "output_price": 0.7}),
    ("$0.70 per 1M output tokens / $0.10 per 1M input tokens", {"input_price": 0.1, "output_price": 0.7}),
    ("$0.65 per 1M tokens", {"input_price": 0.65, "output_price": 0.65}),
    ("$0.65 per million tokens", {"input_price": 0.65, "output_price": 0.65}),
    ("$1,000.00 per 1M tokens", {"input_price": 1000.0, "output_price": 1000.0}),
    ("$0.002 per 1K tokens", {"input_price": 2.0, "output_price": 2.0}),
    ("$1.25 per 1M input tokens $0.125 per 1M cached input tokens $10 per 1M output tokens",
     {"input_price": 1.25, "output_price": 10.0, "cached_input_price": 0.125}),
])
def test_token_price_cells(cell, expected):
    assert models_price_page.parse_price_cell(cell) == dict(expected, unit="per 1M tokens")


@pytest.mark.parametrize("cell, expected", [
    ("$0.04 per image", {"price": 0.04, "unit": "per image"}),
    ("$0.20 per second", {"price": 0.2, "unit": "per second"}),
    ("$0.10 per 1K characters", {"price": 0.1, "unit": "per 1K characters"}),
    ("Same as serverless inference", None),
    ("", None),
])
def test_per_unit_and_unpriced_cells(cell, expected):
    assert models_price_page.parse_price_cell(cell) == expected


def test_verbose_says_which_rows_were_skipped(capsys):
    models_price_page.parse_html(fixture("pricing_2026_tabs.html"), verbose=True)
    assert "skipped OpenAI / GPT-6 preview: no price found" in capsys.readouterr().err


ARIA_TABS = """<html><body><h2>Foundation models</h2>
<div role="tablist"><button role="tab" id="t-a" aria-controls="p-a">Anthropic</button>
<button role="tab" id="t-o" aria-controls="p-o">OpenAI</button></div>
<div role="tabpanel" id="p-a" aria-labelledby="t-a"><table><tr><th>Model</th><th>Price</th></tr>
<tr><td>Claude Opus 4</td><td>$15 per 1M input tokens, $75 per 1M output tokens</td></tr></table></div>
<div role="tabpanel" id="p-o"><table><tr><th>Model</th><th>Price</th></tr>
<tr><td>gpt-oss-20b</td><td>$0.05 per 1M input tokens, $0.45 per 1M output tokens</td></tr></table></div>
</body></html>"""


def test_aria_tab_bar_layout_maps_each_panel_to_its_tab():
    rows = compact(models_price_page.parse_html(ARIA_TABS))
    assert set(rows) == {("Anthropic", "Claude Opus 4"), ("OpenAI", "gpt-oss-20b")}


def test_only_the_pricing_region_is_parsed():
    page = "<nav>" + "<a href='/x'>x</a>" * 1000 + "</nav><h2>Prices</h2><table><tr><th>Model</th>" \
           "<th>Price</th></tr><tr><td>M</td><td>$1 per 1M tokens</td></tr></table><footer>" + "y" * 5000
    region = models_price_page.pricing_region(page)
    assert region.startswith("<h2>Prices</h2>") and region.endswith("</table>")
    assert compact(models_price_page.parse_html(page)) == {("Prices", "M"): {"input_price": 1.0, "output_price": 1.0,
                                                                   "unit": "per 1M tokens"}}


@pytest.mark.parametrize("cell, expected", [
    ("$0.10 / $0.70 per 1M tokens", {"input_price": 0.1, "output_price": 0.7}),
    ("$0.10 per 1M input tokens", {"input_price": 0.1, "output_price": None}),  # never guessed
])
def test_partial_and_unlabelled_token_cells(cell, expected):
    assert models_price_page.parse_price_cell(cell) == dict(expected, unit="per 1M tokens")
