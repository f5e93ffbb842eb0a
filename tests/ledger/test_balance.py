"""gradient_usage.py --balance: DigitalOcean's prepaid balance beside the ledger's month-to-date
total; a call refused because the account is blocked says so and points at --balance."""
from __future__ import annotations

import json
import time

import pytest

import gradient_chat
import gradient_usage
import fakecatalog
from gradient_inference.ledger import balance, store
from conftest import DO_ADDITIONS
from fakeapi import Reply

STATUS = {"status": {"balance": "25.00", "blocked": False, "eligible": True, "is_auto_prepay_enabled": True,
                     "month_to_date_balance": "21.50"}}
CONFIG = {"config": {"created_at": "2026-06-01T00:00:00Z", "updated_at": "2026-11-01T00:00:00Z",
                     "is_auto_prepay_enabled": True, "prepay_amount": "50.00", "prepay_threshold": "10.00",
                     "spend_limit": "100.00"}, "status": STATUS["status"]}


@pytest.fixture
def account(api, monkeypatch):
    monkeypatch.setenv("DIGITALOCEAN_ACCESS_TOKEN", fakecatalog.TOKEN)
    monkeypatch.setenv("DIGITALOCEAN_API_URL", api.origin)
    api.json("GET", "/" + balance.STATUS_PATH, STATUS)
    api.json("GET", "/" + balance.CONFIG_PATH, CONFIG)
    return api


def answer(api, path: str, reply: Reply) -> None:
    """The fixture's answer at `path` replaced by this one."""
    api.routes[("GET", "/" + path)] = [reply]


def spend(amount: float, when: float | None = None) -> None:
    row = store.call_row("chat", "openai-gpt-oss-120b", "chat", cost_usd=amount, outcome="ok")
    store.record(row)
    if when is not None:
        store.connect(store.ledger_path()).execute(
            "UPDATE calls SET ts = ? WHERE id = (SELECT MAX(id) FROM calls)",
            (time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when)),)).connection.commit()


def test_the_fake_answers_fit_the_additions():
    from test_contract import spec_validator

    spec_validator(DO_ADDITIONS)("prepayment_status", STATUS["status"])


def test_balance_beside_the_ledger_with_the_difference(account, capsys):
    spend(2.0)
    spend(1.0)
    spend(99.0, when=time.time() - 40 * 86400)  # last month's: not in this month's total
    assert gradient_usage.main(["--balance", "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["balance_usd"] == 25.0 and found["month_to_date_balance_usd"] == 21.5
    assert found["month_to_date_spend_usd"] == 3.5 and found["blocked"] is False
    assert found["spend_limit_usd"] == 100.0 and found["auto_prepay"] is True
    assert found["ledger_month_to_date_usd"] == 3.0 and found["ledger_calls"] == 2
    assert found["difference_usd"] == 0.5 and found["ledger_since"] == time.strftime("%Y-%m-01", time.gmtime())
    call = account.calls("GET", "/" + balance.STATUS_PATH)[0]
    assert call.headers["Authorization"] == f"Bearer {fakecatalog.TOKEN}"


def test_balance_as_text(account, capsys):
    spend(3.0)
    assert gradient_usage.main(["--balance"]) == 0
    text = capsys.readouterr().out
    assert "prepaid balance        $25.00" in text
    assert "month-to-date spend    $3.50 (the balance less the month-to-date balance)" in text
    assert "serving                open" in text and "spend limit            $100.00" in text
    assert "auto top-up            $50.00 when under $10.00" in text
    assert "difference             $0.50 (spend the ledger does not know" in text


def test_a_blocked_account_says_so(account, capsys):
    answer(account, balance.STATUS_PATH, Reply(json={"status": dict(STATUS["status"], balance="0.00",
                                                                    month_to_date_balance="0.00", blocked=True)}))
    assert gradient_usage.main(["--balance"]) == 0
    captured = capsys.readouterr()
    assert "serving                blocked" in captured.out
    assert "not serving inference for this account" in captured.err


def test_without_a_token_balance_says_what_to_set(api, capsys):
    assert gradient_usage.main(["--balance"]) == 1
    assert "DIGITALOCEAN_ACCESS_TOKEN" in capsys.readouterr().err


def test_a_token_that_cannot_read_billing_is_told_so(account, capsys):
    answer(account, balance.STATUS_PATH, Reply(403, json={"id": "forbidden", "message": "not allowed"}))
    assert gradient_usage.main(["--balance", "--json"]) == 1
    error = json.loads(capsys.readouterr().err)["error"]
    assert "billing" in error["hint"]


def test_the_config_is_optional(account, capsys):
    answer(account, balance.CONFIG_PATH, Reply(404))
    assert gradient_usage.main(["--balance", "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["spend_limit_usd"] is None and "spend limit is not shown" in captured.err


@pytest.mark.parametrize("status", [{"balance": 5, "month_to_date_balance": "x"}, {"balance": "NaN"},
                                    {"balance": True, "blocked": "yes"}, {"balance": "1e400"}, {}])
def test_hostile_figures_become_unknown_never_a_traceback(status):
    found = balance.read_status({"status": status}, {"config": "nope"})
    assert found["month_to_date_spend_usd"] is None
    assert found["blocked"] is None and all(v is None or isinstance(v, (int, float)) for k, v in found.items()
                                            if k.endswith("_usd"))


def test_an_answer_without_a_status_object_is_invalid(account, capsys):
    answer(account, balance.STATUS_PATH, Reply(json=["not", "an", "object"]))
    assert gradient_usage.main(["--balance"]) == 1
    assert "no status object" in capsys.readouterr().err


@pytest.mark.parametrize("status, body", [
    (402, {"error": {"message": "Payment Required"}}),
    (403, {"error": {"message": "Insufficient prepaid balance: serverless inference is suspended"}}),
])
def test_a_call_refused_for_a_blocked_account_points_at_balance(api, capsys, status, body):
    api.add("POST", "/v1/chat/completions", Reply(status, json=body))
    assert gradient_chat.main(["--base-url", api.url, "--prompt", "hi", "--json"]) == 1
    error = json.loads(capsys.readouterr().err)["error"]
    assert error["message"].startswith("the account is blocked from serving")
    assert "gradient_usage.py --balance" in error["hint"]


def test_a_403_about_the_model_keeps_its_own_hint(api, capsys):
    api.add("POST", "/v1/chat/completions", Reply(403, json={"error": {"message": "model not allowed for this key"}}))
    assert gradient_chat.main(["--base-url", api.url, "--prompt", "hi", "--json"]) == 1
    assert "--balance" not in capsys.readouterr().err


@pytest.mark.parametrize("extra", [["--csv"], ["--conversations"], ["--since", "7d"], ["--by", "model"], ["--today"]])
def test_balance_with_a_report_flag_is_a_usage_error(account, capsys, extra):
    with pytest.raises(SystemExit) as exit_:
        gradient_usage.main(["--balance", *extra])
    assert exit_.value.code == 2 and "--balance shows this month" in capsys.readouterr().err
    assert account.calls("GET", "/" + balance.STATUS_PATH) == []
