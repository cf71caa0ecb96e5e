"""Amounts are integers of base units; no floats anywhere in consensus."""

COIN = 100_000_000
# No single amount, fee or balance may exceed this (as bitcoind's MoneyRange).
MAX_MONEY = 21_000_000 * COIN


def format_amount(units: int) -> str:
    """Render base units as a decimal coin string for people and RPC (never for rules)."""
    sign = "-" if units < 0 else ""
    whole, frac = divmod(abs(units), COIN)
    return f"{sign}{whole}.{frac:08d}"


def parse_amount(text: str) -> int:
    """Parse a decimal coin string ("1.5", "0.00000001") exactly into base units."""
    text = text.strip()
    if not text or text.count(".") > 1 or text.startswith(("+", "-")):
        raise ValueError(f"not an amount: {text!r}")
    whole, _, frac = text.partition(".")
    digits_ok = (whole.isdigit() or whole == "") and (frac.isdigit() or frac == "")
    if not (whole or frac) or not digits_ok:
        raise ValueError(f"not an amount: {text!r}")
    if len(frac) > 8:
        raise ValueError(f"amount {text!r} has more than 8 decimal places")
    units = int(whole or "0") * COIN + int(frac.ljust(8, "0") or "0")
    if units > MAX_MONEY:
        raise ValueError(f"amount {text!r} exceeds the money supply")
    return units
