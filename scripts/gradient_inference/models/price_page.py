"""DigitalOcean's pricing page: fetched (HTML, else its Markdown twin) and read into price rows.

Belongs here: finding pricing tables by their header words and $ cells, reading a price cell,
labelling each table with its provider, and fetching the page. Does not belong here: the rows
once read (models.prices) or the pricing command's output (models.run_pricing). bs4 is imported
only when a page is parsed.
"""
from __future__ import annotations

import codecs
import re
import time

from gradient_inference.api.client import MAX_JSON_BYTES, Client, read_body
from gradient_inference.core.errors import GradientError
from gradient_inference.core.output import log
from gradient_inference.core.providers import DEFAULT_PROVIDER, PROVIDERS
from gradient_inference.core.settings import Settings
from gradient_inference.core.text import one_line
from gradient_inference.models.prices import TOKEN_UNIT, make_row

PRICING_URLS = (  # newest first: the page moved with the product's renames
    "https://docs.digitalocean.com/products/inference/details/pricing/",
    "https://docs.digitalocean.com/products/inference-hub/details/pricing/",
    "https://docs.digitalocean.com/products/gradient-ai-platform/details/pricing/",
)
PRICE = r"\$\s*([0-9][0-9,]*(?:\.[0-9]+)?)"  # patterns are compiled on first use (re caches them)
TOKEN_SCALE = (  # what to multiply by to get USD per 1M tokens
    (r"(1\s*m\b|1,000,000|million|mtok)", 1.0),
    (r"(1\s*k\b|1,000\b|thousand)", 1000.0),
    (r"\btokens?\b", 1_000_000.0),
)

MD_HEADING = (r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$|^\s*\*\*([^*]+)\*\*\s*$|"
              r"""^\s*\{\{[<%]\s*tab\s+(?:name=)?["']([^"']+)["']""")


# ---------------------------------------------------------------- price cells


def token_scale(unit_text: str) -> float | None:
    for pattern, scale in TOKEN_SCALE:
        if re.search(pattern, unit_text):
            return scale
    return None


def amounts(text: str) -> list:
    """(USD, the words after it up to the next amount) for each $ amount in a cell."""
    found = list(re.finditer(PRICE, text))
    result = []
    for index, match in enumerate(found):
        end = found[index + 1].start() if index + 1 < len(found) else len(text)
        words = text[match.end():end].strip(" \t\n/|,;")
        result.append((float(match.group(1).replace(",", "")), " ".join(words.split())))
    return result


def token_key(words: str) -> str | None:
    """Which token price a phrase names, or None for a plain 'per 1M tokens'."""
    if "cache" in words:
        return "cached_input_price"
    if "input" in words or "prompt" in words:
        return "input_price"
    if "output" in words or "completion" in words:
        return "output_price"
    return None


def parse_price_cell(text: str, context: str = "") -> dict | None:
    """Prices of one table cell; `context` (the column header) stands in for missing unit words.
    Token prices become USD per 1M tokens (input_price, output_price, cached_input_price);
    other units keep `price` and `unit`. None when the cell holds no price."""
    token_prices, unlabelled, per_unit = {}, [], None
    for value, unit_words in amounts(text):
        words = (unit_words or context).lower()
        scale = token_scale(words) if "tok" in words else None
        if scale is not None and token_key(words):
            token_prices.setdefault(token_key(words), round(value * scale, 6))
        elif scale is not None or not words:
            unlabelled.append(round(value * (scale or 1.0), 6))  # "$0.65 per 1M tokens", "$0.10 / $0.70 ..."
        elif per_unit is None:
            unit = re.sub(r"^(?i:usd|us\$)\s*", "", unit_words or context)
            per_unit = {"price": value, "unit": unit if unit.lower().startswith("per") else f"per {unit}"}
    mentions_tokens = "tok" in f"{text} {context}".lower()
    if unlabelled and mentions_tokens and not {"input_price", "output_price"} & token_prices.keys():
        token_prices["input_price"], token_prices["output_price"] = unlabelled[0], unlabelled[-1]
    if {"input_price", "output_price"} & token_prices.keys():
        return dict({"input_price": None, "output_price": None}, **token_prices, unit=TOKEN_UNIT)
    return per_unit


def column_roles(names: list) -> dict:
    """Which columns hold the model, the provider, separate input/output prices, and which
    to try for a combined price (serverless and price-like headers first, agent columns never)."""
    def first(test):
        return next((i for i, name in enumerate(names) if test(name)), None)

    model = first(lambda h: "model" in h or h == "name") or 0
    preferred = [i for i, h in enumerate(names) if i != model and "agent" not in h
                 and re.search(r"serverless|price|pricing|cost|rate|usd|\$", h)]
    others = [i for i, h in enumerate(names) if i != model and i not in preferred and "agent" not in h]
    return {"model": model, "provider": first(lambda h: "provider" in h),
            "input": first(lambda h: "input" in h and "output" not in h),
            "output": first(lambda h: "output" in h and "input" not in h),
            "candidates": preferred + others}


def row_prices(cells: list, names: list, roles: dict) -> dict | None:
    if roles["input"] is not None and roles["output"] is not None and \
            max(roles["input"], roles["output"]) < len(cells):
        # bare amounts under Input/Output headers are token prices per 1M unless the header says otherwise
        found_in, found_out = (parse_price_cell(cells[col], names[col] if "tok" in names[col]
                                                else names[col] + " per 1m tokens")
                               for col in (roles["input"], roles["output"]))
        if found_in and found_out and found_in.get("unit") == TOKEN_UNIT == found_out.get("unit"):
            return {"input_price": found_in["input_price"], "output_price": found_out["output_price"],
                    "unit": TOKEN_UNIT}
    for column in roles["candidates"]:
        prices = parse_price_cell(cells[column], names[column]) if column < len(cells) else None
        if prices:
            return prices
    return None


def rows_from_table(header: list, body: list, provider: str, verbose: bool = False, section: bool = False) -> list:
    """Pricing rows of one table, found by header words and $ cells, not by ids or classes.
    `section`: the label is a section heading ("Image and Audio Generation"), which names a
    provider for token prices at most. A per-unit row never takes the label: it keeps the vendor
    its id names, if any."""
    names = [one_line(h).lower() for h in header]
    roles = column_roles(names)
    rows = []
    for cells in body:
        model = one_line(cells[roles["model"]], 120) if roles["model"] < len(cells) else ""
        if not model or re.search(PRICE, model):
            continue
        row_provider = provider
        if roles["provider"] is not None and roles["provider"] < len(cells):
            row_provider = one_line(cells[roles["provider"]], 60)
        prices = row_prices(cells, names, roles)
        if prices and roles["provider"] is None and prices.get("unit") != TOKEN_UNIT:
            # a heading or tab above per-unit prices ("Image and Audio Generation") is no vendor: the
            # vendor comes from the model's id (models.known.attach_known_ids), else stays empty
            row_provider = model.split("/", 1)[0] if "/" in model else ""
        if prices:
            rows.append(make_row(row_provider, model, prices))
        elif verbose:
            log(f"skipped {row_provider} / {model}: no price found")
    return rows


# ---------------------------------------------------------------- pages


def table_label(table) -> tuple:
    """(label, whether it is a section heading): the tab the table belongs to, else the nearest
    tab label or heading."""
    panel = table.find_parent(lambda tag: tag.get("role") == "tabpanel" or any(
        "tab-content" in c or "tab-pane" in c or c == "tab" for c in tag.get("class", [])))
    if panel is not None:
        labelled = panel.get("aria-labelledby")
        if labelled:
            owner = panel.find_parent("html") or panel
            tab = owner.find(id=labelled)
            if tab is not None and tab.get_text(strip=True):
                return one_line(tab.get_text(" ", strip=True), 60), False
        if panel.get("id"):
            root = panel.find_parent("html") or panel.parent
            tab = root.find(attrs={"aria-controls": panel["id"]}) if root is not None else None
            if tab is not None and tab.get_text(strip=True):
                return one_line(tab.get_text(" ", strip=True), 60), False
    previous = table.find_previous(lambda tag: tag.name in ("label", "h1", "h2", "h3", "h4", "h5", "h6")
                                   or tag.get("role") == "tab")
    if previous is None:
        return "", True
    return one_line(previous.get_text(" ", strip=True), 60), previous.name.startswith("h")


def cell_text(cell) -> str:
    return cell.get_text("\n", strip=True)


def pricing_region(html: str) -> str:
    """The page from the h1/h2 that opens the first table's section to the end of the last
    table: tab labels, headings and panels stay whole, while navigation, scripts and the
    rest of the docs shell (most of a 1 MB page) are not parsed at all."""
    first = re.search(r"<table[\s>]", html, re.I)
    if first is None:
        return html
    headings = [m.start() for m in re.finditer(r"<h[12][\s>]", html[:first.start()], re.I)]
    start = headings[-1] if headings else 0
    end = html.lower().rfind("</table>")
    return html[start:end + len("</table>")] if end > start else html[start:]


def parse_html(html: str, verbose: bool = False) -> list:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(pricing_region(html), "html.parser")
    rows = []
    for table in soup.find_all("table"):
        lines = table.find_all("tr")
        if not lines:
            continue
        head_cells = lines[0].find_all(["th", "td"])
        header = [cell_text(c) for c in head_cells]
        body = [[cell_text(c) for c in line.find_all(["th", "td"])] for line in lines[1:]]
        label, section = table_label(table)
        rows += rows_from_table(header, body, label, verbose, section)
    return rows


def split_md_row(line: str) -> list:
    cells = re.split(r"(?<!\\)\|", line.strip().strip("|"))
    return [re.sub(r"<br\s*/?>", "\n", c, flags=re.I).replace("\\|", "|").strip() for c in cells]


def parse_markdown(text: str, verbose: bool = False) -> list:
    """Pricing rows from Markdown tables; the provider is the nearest heading or tab name."""
    rows, label, section = [], "", True
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        heading = re.match(MD_HEADING, line)
        if heading:
            label = one_line(re.sub(r"[*_`]", "", next(g for g in heading.groups()[1:] if g)), 60)
            section = heading.group(2) is not None  # a # heading; bold lines and tabs name providers
        if line.lstrip().startswith("|") and index + 1 < len(lines) and re.match(
                r"^\s*\|?\s*:?-{3,}", lines[index + 1]):
            header = split_md_row(line)
            body = []
            index += 2
            while index < len(lines) and lines[index].lstrip().startswith("|"):
                body.append(split_md_row(re.sub(r"\*\*|`", "", lines[index])))
                index += 1
            rows += rows_from_table(header, body, label, verbose, section)
            continue
        index += 1
    return rows


# ---------------------------------------------------------------- fetching


def charset(name: str | None) -> str:
    """The page's declared charset when Python knows it, else UTF-8 (a server may say x-bogus)."""
    try:
        return codecs.lookup(name).name if name else "utf-8"
    except (LookupError, TypeError, ValueError):
        return "utf-8"


def fetch_markdown_twin(client, url: str, timeout: float, verbose: bool) -> list:
    """Rows from the page's Markdown twin (<url>index.html.md); none when it cannot be had."""
    twin = (url if url.endswith("/") else url + "/") + "index.html.md"
    try:
        response = client.send("GET", twin, authorized=False)
        text = read_body(response, time.monotonic() + timeout, MAX_JSON_BYTES, "the page").decode("utf-8", "replace")
    except GradientError as error:
        if verbose:
            log(f"no Markdown twin at {twin}: {error.message}")
        return []
    return parse_markdown(text, verbose)


def fetch_live(urls, timeout: float, max_retries: int, verbose: bool) -> tuple:
    """(rows, url) from the first page that has pricing tables, trying its Markdown twin too."""
    settings = Settings("", None, DEFAULT_PROVIDER, PROVIDERS[DEFAULT_PROVIDER], timeout, max_retries, verbose)
    client = Client(settings)
    last_error = None
    for url in urls:
        try:
            response = client.send("GET", url, authorized=False, headers={"Accept": "text/html"},
                                   what="the pricing page")
            # a body cut short (fewer bytes than Content-Length, a connection closed mid-body) raises
            # here: it is a failed fetch, never a page with fewer prices on it
            page = read_body(response, time.monotonic() + timeout, MAX_JSON_BYTES, "the pricing page")
            final_url = response.url
            if not re.search(rb"(?i)</(html|body)\s*>", page[-4096:]):  # a page closed mid-transfer by the server
                raise GradientError("connection", f"the pricing page at {final_url} ended before its closing "
                                    "</body> or </html>: it was cut short", hint="try again")
            rows = parse_html(page.decode(charset(response.encoding), "replace"), verbose)
            if not rows:
                rows = fetch_markdown_twin(client, final_url, timeout, verbose)
            if rows:
                return rows, final_url
            last_error = GradientError("parse", f"no pricing table at {final_url}: the pricing page "
                                       "layout changed", hint="prices below come from a fallback")
        except GradientError as error:
            last_error = error if not (last_error and last_error.type == "parse") else last_error
            if error.type in ("connection", "timeout"):
                break  # every known URL is on the same host
    raise last_error
