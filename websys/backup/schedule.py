"""Five-field cron expressions (minute hour day-of-month month day-of-week), evaluated in UTC.

Small on purpose: numbers, `*`, lists (`1,15`), ranges (`1-5`) and steps (`*/15`, `0-30/10`).
Day-of-month and day-of-week combine as cron does: if both are restricted, either may match.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

_FIELDS: tuple[tuple[str, int, int], ...] = (
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day of month", 1, 31),
    ("month", 1, 12),
    ("day of week", 0, 7),
)


class CronError(ValueError):
    pass


@dataclass(frozen=True)
class Cron:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday (7 is folded into 0)
    days_restricted: bool
    weekdays_restricted: bool

    def day_matches(self, day: datetime) -> bool:
        if day.month not in self.months:
            return False
        day_ok = day.day in self.days
        weekday_ok = (day.isoweekday() % 7) in self.weekdays
        if self.days_restricted and self.weekdays_restricted:
            return day_ok or weekday_ok
        return day_ok and weekday_ok

    def matches(self, moment: datetime) -> bool:
        return moment.minute in self.minutes and moment.hour in self.hours and self.day_matches(moment)

    def next_after(self, moment: datetime) -> datetime:
        """The first matching minute strictly after `moment`, in UTC."""
        after = moment.astimezone(UTC).replace(second=0, microsecond=0)
        day = after.replace(hour=0, minute=0)
        for _ in range(5 * 366 + 1):  # five years covers 29 February
            if self.day_matches(day):
                for hour in sorted(self.hours):
                    for minute in sorted(self.minutes):
                        candidate = day.replace(hour=hour, minute=minute)
                        if candidate > after:
                            return candidate
            day += timedelta(days=1)
        raise CronError("the schedule never fires")


def _parse_field(text: str, name: str, low: int, high: int) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        base, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) < 1:
                raise CronError(f"{name}: {part!r} has a bad step")
            step = int(step_text)
        if base == "*":
            start, end = low, high
        elif "-" in base:
            first, _, last = base.partition("-")
            if not (first.isdigit() and last.isdigit()):
                raise CronError(f"{name}: {part!r} is not a range")
            start, end = int(first), int(last)
        elif base.isdigit():
            start = end = int(base)
            if step_text:
                end = high
        else:
            raise CronError(f"{name}: {part!r} is not a number, range or '*'")
        if not (low <= start <= end <= high):
            raise CronError(f"{name}: {part!r} is outside {low}-{high}")
        values.update(range(start, end + 1, step))
    return frozenset(values)


def parse_cron(expression: str) -> Cron:
    parts = expression.split()
    if len(parts) != len(_FIELDS):
        raise CronError(f"{expression!r} is not a cron expression: expected 5 fields (minute hour day month weekday)")
    fields = [_parse_field(text, *spec) for text, spec in zip(parts, _FIELDS, strict=True)]
    weekdays = frozenset(day % 7 for day in fields[4])
    cron = Cron(fields[0], fields[1], fields[2], fields[3], weekdays, parts[2] != "*", parts[4] != "*")
    cron.next_after(datetime(2000, 1, 1, tzinfo=UTC))  # refuses e.g. "0 0 31 2 *"
    return cron
