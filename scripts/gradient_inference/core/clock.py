"""Time without importing datetime at start-up: ISO 8601 times read into seconds since the epoch
(the price cache's, the catalog's), UTC times written back, and HTTP dates read by email.utils
where a Retry-After needs one.

Belongs here: pure date arithmetic the price cache, the catalog and Retry-After share. Does not
belong here: anything that reads a clock for a decision (the caller passes `now`).
"""
from __future__ import annotations

import re
import time

ISO_TIME = (r"(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(\.\d+)?(Z|[+-]\d\d:?\d\d)?")


def days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm)."""
    year -= month <= 2
    era = year // 400
    year_of_era = year - era * 400
    day_of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146097 + day_of_era - 719468


def parse_time(text) -> float | None:
    """Seconds since the epoch of an ISO 8601 time (Z, an offset, or none for UTC); None if not one."""
    match = re.fullmatch(ISO_TIME, str(text).strip())
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    if not (1 <= month <= 12 and 1 <= day <= 31 and hour < 24 and minute < 60 and second < 60):
        return None
    fraction, zone = float(match.group(7) or 0), match.group(8)
    offset = 0
    if zone and zone != "Z":
        digits = zone[1:].replace(":", "")
        offset = (-1 if zone[0] == "-" else 1) * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
    return days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second + fraction - offset


def iso_utc(timestamp: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))


def http_date(text: str) -> float | None:
    """Seconds since the epoch of an HTTP date (RFC 9110: IMF-fixdate, and the obsolete RFC 850
    and asctime forms a server may still send), read by email.utils; None if it is not one."""
    from datetime import timezone  # here, not at the top: only a Retry-After date needs them
    from email.utils import parsedate_to_datetime

    try:
        moment = parsedate_to_datetime(text.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if moment.tzinfo is None:  # asctime carries no zone: HTTP dates are always GMT
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()
