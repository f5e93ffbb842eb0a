"""DigitalOcean's prepaid balance (GET /v2/customers/my/prepayment_status and prepayment_config,
with a DigitalOcean API token) beside the ledger's own month-to-date total. DigitalOcean stops
serving inference when the balance reaches $0.

Belongs here: reading the balance and comparing it with what the ledger recorded. Does not
belong here: the control-plane client (api.control) or printing it (ledger.run_usage).
"""
from __future__ import annotations

import time

from gradient_inference.api.control import control_client
from gradient_inference.core.errors import GradientError
from gradient_inference.core.output import warn
from gradient_inference.ledger.reports import report

STATUS_PATH = "v2/customers/my/prepayment_status"
CONFIG_PATH = "v2/customers/my/prepayment_config"
MAX_DOLLARS = 1e9  # a figure past this is a server's nonsense
SCOPE = "billing:read"


def dollars(value) -> float | None:
    """A decimal-dollar string ("25.00") or number as a float; None for anything else."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return None
    try:
        found = float(value.strip()) if isinstance(value, str) else float(value)
    except ValueError:
        return None
    return found if found - found == 0 and abs(found) <= MAX_DOLLARS else None


def flag(value) -> bool | None:
    return value if isinstance(value, bool) else None


def read_status(status_doc, config_doc) -> dict:
    """The balance's fields, each typed or None: from the status answer, and the config answer
    when there is one (its own copy of the status fills what the first lacks)."""
    status = status_doc.get("status") if isinstance(status_doc, dict) else None
    config = config_doc.get("config") if isinstance(config_doc, dict) else None
    status = status if isinstance(status, dict) else {}
    config = config if isinstance(config, dict) else {}
    balance, month_balance = dollars(status.get("balance")), dollars(status.get("month_to_date_balance"))
    spent = round(balance - month_balance, 6) if balance is not None and month_balance is not None \
        and balance >= month_balance else None
    auto = flag(config.get("is_auto_prepay_enabled"))
    return {"balance_usd": balance, "month_to_date_balance_usd": month_balance, "month_to_date_spend_usd": spent,
            "blocked": flag(status.get("blocked")), "eligible": flag(status.get("eligible")),
            "auto_prepay": auto if auto is not None else flag(status.get("is_auto_prepay_enabled")),
            "spend_limit_usd": dollars(config.get("spend_limit")), "prepay_amount_usd": dollars(config.get("prepay_amount")),
            "prepay_threshold_usd": dollars(config.get("prepay_threshold"))}


def month_start(now: float | None = None) -> str:
    return time.strftime("%Y-%m-01", time.gmtime(time.time() if now is None else now))


def compare(found: dict, ledger_total: dict, since: str) -> dict:
    """The balance beside the ledger's month-to-date total and the difference (DigitalOcean's
    month-to-date spend less the ledger's): what the ledger does not know of."""
    ledger_cost = round(ledger_total.get("cost_usd") or 0.0, 6)
    spent = found["month_to_date_spend_usd"]
    return dict(found, ledger_since=since, ledger_month_to_date_usd=ledger_cost,
                ledger_calls=ledger_total.get("calls") or 0, ledger_unpriced_calls=ledger_total.get("unpriced_calls") or 0,
                difference_usd=round(spent - ledger_cost, 6) if spent is not None else None)


def fetch_balance(timeout: float, max_retries: int, verbose: bool) -> dict:
    """The prepaid balance and its settings, beside the ledger; the config is optional (a token
    that cannot read it still gets the balance, with a warning)."""
    client = control_client(timeout, max_retries, verbose, scope=SCOPE)
    try:
        status_doc, _ = client.get_json(STATUS_PATH)
    except GradientError as error:
        if error.status in (401, 403):
            error.hint = f"the DigitalOcean API token must be able to read billing ({SCOPE})"
        if error.status == 404:
            error.hint = "this account has no prepaid balance (prepayment_status is not there)"
        raise
    if not isinstance(status_doc, dict) or not isinstance(status_doc.get("status"), dict):
        raise GradientError("invalid_response", "the prepayment status answer has no status object")
    try:
        config_doc, _ = client.get_json(CONFIG_PATH)
    except GradientError as error:
        warn(f"the prepayment settings could not be read ({error.message}); the spend limit is not shown")
        config_doc = None
    since = month_start()
    return compare(read_status(status_doc, config_doc), report(since, None, "day")["total"], since)
