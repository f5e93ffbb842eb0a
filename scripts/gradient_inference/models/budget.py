"""The budget: the one owner of what a call could cost at worst, of the checks made before
anything is sent (--max-cost, the daily budget, calls that cannot be priced), of a batch's
running reservations, and of the words of every refusal.

Belongs here: estimates and budget decisions, for chat, images, audio, embeddings and batches.
Does not belong here: prices themselves (models.prices) or today's spend and the holds on it (ledger.reservations).
"""
from __future__ import annotations

from collections import namedtuple

from gradient_inference.core.defaults import MESSAGES_MAX_TOKENS
from gradient_inference.core.errors import GradientError
from gradient_inference.core.output import log
from gradient_inference.core.paths import why
from gradient_inference.ledger.reservations import hold
from gradient_inference.models.known import output_limit
from gradient_inference.models.prices import TOKEN_UNIT, offline_row
from gradient_inference.models.routers import NO_CANDIDATES, is_router
from gradient_inference.models.served import cached_entry

# The budget flags: --max-cost (this call or run), --daily-budget (today's spend, UTC) and
# --allow-unpriced (send a call whose cost cannot be estimated anyway).
Budget = namedtuple("Budget", "max_cost daily allow_unpriced", defaults=(None, None, False))


# ---------------------------------------------------------------- estimates


def worst_case(model_id: str, text_chars: int, max_output: int | None) -> float | None:
    """The most a token-priced call can cost, at the model's cached or bundled prices."""
    return worst_case_at(offline_row(model_id), text_chars, max_output)


def worst_case_at(row: dict | None, text_chars: int, max_output: int | None) -> float | None:
    """The most a call can cost at a price row: prompt tokens taken as one per 3 characters (text
    runs about 4 a token, so this errs high), and every allowed output token."""
    if row is None or row.get("unit") != TOKEN_UNIT or max_output is None:
        return None
    prompt_tokens = -(-text_chars // 3)
    if any(row.get(meter) is None and tokens
           for meter, tokens in (("input_price", prompt_tokens), ("output_price", max_output))):
        return None  # tokens on a meter with no price: the worst case is unknown
    if row.get("input_price") is None and row.get("output_price") is None:
        return None
    return round((prompt_tokens * (row["input_price"] or 0.0) + max_output * (row["output_price"] or 0.0))
                 / 1_000_000, 8)


def chat_worst_case(model_id: str, text_chars: int, max_tokens: int | None, candidates: list | None = None) -> tuple:
    """(the most a chat call can cost or None, why it cannot be bounded or None, the limit it
    assumed in words): with no --max-tokens, the model's largest answer as the catalog, the
    server's model list or the bundled table of vendors' limits knows it. A router's call costs
    at most what its most expensive candidate (`candidates`) could; unknown candidates leave it unpriced."""
    def one(model):
        return item_worst_case(model, offline_row(model), text_chars, max_tokens,
                               cached_entry(model) if max_tokens is None else None)

    if is_router(model_id):
        estimate, limit, why, dearest = router_worst_case(model_id, candidates, one)
        return estimate, why, assumed_words({limit} if limit else set()) + (
            f" at its most expensive candidate, {dearest}" if dearest else "")
    estimate, limit, why = one(model_id)
    return estimate, why, assumed_words({limit} if limit else set())


def worst_for(model_id: str, worst_of, candidates) -> tuple:
    """(worst case, limit assumed, why unknown) of a call to a model, or to a router at its most
    expensive candidate (`candidates(model_id)` gives them, or None)."""
    if is_router(model_id):
        return router_worst_case(model_id, candidates(model_id), worst_of)[:3]
    return worst_of(model_id)


def router_worst_case(model_id: str, candidates: list | None, worst_of) -> tuple:
    """(worst case, the limit it assumed, why it is unknown, the candidate it is priced at) of a
    router's call: the largest of its candidates' worst cases (worst_of(model) gives each as
    item_worst_case does); unknown when the candidates are, or when any of them cannot be bounded."""
    if not candidates:
        return None, None, NO_CANDIDATES, None
    dearest = None
    for candidate in candidates:
        estimate, limit, why = worst_of(candidate)
        if estimate is None:
            return None, None, f"{model_id} may pick {candidate}, and {why}", None
        if dearest is None or estimate > dearest[0]:
            dearest = (estimate, limit, None, candidate)
    return dearest


def assumed_words(limits: set) -> str:
    """The one wording of the answer limits a worst case assumed where no --max-tokens was given:
    a set of (limit, where it came from), one for a call, several for a batch's models."""
    if not limits:
        return ""
    if len(limits) == 1:
        limit, source = next(iter(limits))
        return f" (assuming its largest answer, {limit:,} tokens, from {source}; --max-tokens lowers it)"
    return (f" (assuming each answer is as long as its model allows, up to {max(l for l, _ in limits):,} tokens; "
            "--max-tokens lowers it)")


def item_worst_case(model_id: str, row: dict | None, text_chars: int, asked: int | None,
                    served: dict | None = None) -> tuple:
    """(a call's worst case or None, the (limit, source) it assumed or None, why it is unknown or
    None) at a price row already found; `served`: the model's entry in the server's list, if known."""
    if row is None or row.get("unit") != TOKEN_UNIT:
        return None, None, f"no token price is known for {model_id}"
    limit, source = (asked, None) if asked else output_limit(model_id, row, served)
    if limit is None:
        return None, None, f"no answer limit is known for {model_id}"
    estimate = worst_case_at(row, text_chars, limit)
    return estimate, None if asked else (limit, source), None if estimate is not None else \
        f"no price is known for every meter of {model_id}"


def messages_max_tokens(model_id: str) -> int:
    """max_tokens for the Messages API, which requires it, when --max-tokens is not given: the
    model's largest answer where the catalog or the vendor says it, else the default; said on stderr."""
    limit, source = output_limit(model_id, offline_row(model_id), cached_entry(model_id), to_send=True)
    if limit is None:
        log(f"max_tokens: {MESSAGES_MAX_TOKENS:,} (the Messages API requires it and no answer limit is known for "
            f"{model_id}); --max-tokens sets it")
        return MESSAGES_MAX_TOKENS
    log(f"max_tokens: {limit:,} (the model's largest answer, from {source}); --max-tokens sets it")
    return limit


# ---------------------------------------------------------------- refusals

def is_set(budget: Budget) -> bool:
    return budget.max_cost is not None or budget.daily is not None


def unpriced(what: str, why: str | None = None) -> GradientError:
    """The one refusal of a call whose cost cannot be estimated, naming why where it is known: no
    price (price it, or send it anyway) or no answer limit (give one)."""
    if why and "limit" in why:
        hint = "give --max-tokens, or send it anyway with --allow-unpriced"
    elif why:
        hint = ("price it (DIGITALOCEAN_ACCESS_TOKEN gives the catalog's prices; gradient_pricing.py --no-cache "
                "refreshes the page's), or send it anyway with --allow-unpriced")
    else:
        hint = "give --max-tokens, or send it anyway with --allow-unpriced"
    return GradientError("budget", f"the cost of {what} cannot be estimated, so no budget can be kept"
                         + (f": {why}" if why else ""), hint=hint)


def check(budget: Budget, estimate: float | None, what: str, why: str | None = None) -> int | None:
    """Before sending: refuse (error type budget) when the worst case of this call passes --max-cost,
    or today's spend plus every call under way plus it passes the daily budget; a call of unknown
    cost is refused under any budget unless --allow-unpriced, since it could cost anything. Under a
    daily budget the worst case is held in the ledger (the reservation id is returned, for the
    call's ledger.store.Entry), and a ledger that cannot be read or written refuses the call."""
    if not is_set(budget):
        return None
    if estimate is None:
        if budget.allow_unpriced:
            return None
        raise unpriced(what, why)
    if budget.max_cost is not None and estimate > budget.max_cost:
        raise GradientError("budget", f"{what} could cost up to ${estimate:.6f}, over --max-cost ${budget.max_cost:g}",
                            hint="raise --max-cost, or lower --max-tokens or --n")
    if budget.daily is None:
        return None
    reservation, committed, unpriced_today = held(estimate, budget.daily)
    if reservation is None:
        raise GradientError("budget", f"{what} could cost up to ${estimate:.6f}, which would pass the daily "
                            f"budget", hint=f"spent today (UTC) ${committed:.6f} of ${budget.daily:g}, counting "
                                            "the calls under way" + unpriced_words(unpriced_today))
    return reservation


def held(estimate: float, daily: float) -> tuple:
    """ledger.reservations.hold, with a ledger that cannot be read or written as the one refusal
    that says so (under a daily budget no call goes out then)."""
    import sqlite3  # only to name its errors

    try:
        return hold(estimate, daily)
    except (OSError, ValueError, sqlite3.Error) as exc:
        raise GradientError("budget", f"the daily budget cannot be kept: the usage ledger cannot be read or written "
                            f"({why(exc) if isinstance(exc, OSError) else exc})",
                            hint="mend or move the ledger aside (GRADIENT_USAGE_DB); without a daily budget the "
                                 "call would go through with a warning") from None


def unpriced_words(unpriced: int) -> str:
    """What a spend figure leaves out, for a budget's words."""
    return (f", and {unpriced} of today's calls have no price, so the real spend is higher" if unpriced else "")


# ---------------------------------------------------------------- a run of many calls

class Reservations:
    """A batch run's budget: each item reserves its worst case before it starts (under a daily
    budget in the ledger too, with every other process's), and the reservation ends only when its
    cost is counted, so that running items can never take the run past --max-cost or the daily
    budget."""

    def __init__(self, budget: Budget):
        self.budget, self.reserved = budget, 0.0

    def refusal(self, estimate: float | None, model: str, why: str | None = None) -> GradientError | None:
        """The error line of an item that cannot be priced under a budget, or None."""
        if estimate is None and is_set(self.budget) and not self.budget.allow_unpriced:
            return unpriced(f"a call to {model}", why)
        return None

    def stop_reason(self, spent: float, estimate: float | None, assumed: str = "") -> str | None:
        """Why no more items may start under --max-cost, given what the run has spent, or None;
        `assumed`: assumed_words() of the item's answer limit, when it gave none."""
        budget = self.budget
        if estimate is None or budget.max_cost is None:
            return None
        if spent + self.reserved + estimate > budget.max_cost:
            return f"--max-cost ${budget.max_cost:g} would be passed{assumed}"
        return None

    def reserve(self, estimate: float | None, what: str) -> tuple:
        """(the ledger reservation id or None, why no more items may start or None): the item's
        worst case held for the run, and under a daily budget in the ledger, with every other
        process's calls, in one transaction."""
        hold_id = None
        if estimate is not None and self.budget.daily is not None:
            try:
                hold_id, committed, unpriced_today = held(estimate, self.budget.daily)
            except GradientError as refusal:
                return None, refusal.message
            if hold_id is None:
                return None, (f"the daily budget ${self.budget.daily:g} would be passed (${committed:.6f} spent "
                              "today, counting the calls under way" + unpriced_words(unpriced_today) + ")")
        self.reserved += estimate or 0.0
        return hold_id, None

    def release(self, estimate: float | None) -> None:
        self.reserved -= estimate or 0.0
