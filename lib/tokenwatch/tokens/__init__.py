"""Token-consumption disclosures: units, the ledger, and the weekly's claims checked."""

from tokenwatch.tokens.claims import check_claims, load_claims
from tokenwatch.tokens.ledger import (
    as_of,
    compare,
    growth,
    growth_table,
    in_unit,
    ledger_path,
    load_ledger,
    per_day_table,
    select,
    tokens_only,
)
from tokenwatch.tokens.periods import DISPLAY_UNITS, UNITS, parse_period, per_day

__all__ = ["DISPLAY_UNITS", "UNITS", "as_of", "check_claims", "compare", "growth", "growth_table", "in_unit",
           "ledger_path", "load_claims", "load_ledger", "parse_period", "per_day", "per_day_table", "select",
           "tokens_only"]
