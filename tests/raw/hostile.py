"""Bad and hostile files, shared by the landing-path and inbox tests: each case damages a good day
file the way real files go wrong and names the words its refusal must carry."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from feature_logic.synthetic import SyntheticConfig, SyntheticGenerator

DAYS = (date(2025, 1, 1), date(2025, 1, 2), date(2025, 1, 3))
GENERATOR = SyntheticGenerator(SyntheticConfig(n_cards=30, transactions_per_day=200, n_days=10, seed=3))
#: A refusal's message stays this short whatever the file holds.
MESSAGE_LIMIT = 2_200


def transactions(day: date) -> pd.DataFrame:
    return GENERATOR.day(day).transactions


def labels(day: date) -> pd.DataFrame:
    return GENERATOR.day(day).fraud_labels


def write(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)


@dataclass(frozen=True)
class Case:
    """A damaged file: `make(path, day)` writes it (it may choose another suffix and returns the path)."""

    name: str
    table: str
    make: Callable[[Path, date], Path]
    words: tuple[str, ...]


def _negative_amount(path: Path, day: date) -> Path:
    frame = transactions(day)
    frame.loc[5, "amount"] = -40.0
    write(frame, path)
    return path


def _truncated(path: Path, day: date) -> Path:
    write(transactions(day), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 25])  # cut inside the last line, as an interrupted copy does
    return path


def _float_tids(path: Path, day: date) -> Path:
    frame = transactions(day)
    frame["tid"] = frame["tid"].astype("float64") + 2.0**60  # ids past 2^53 lose digits as floats
    path = path.with_suffix(".parquet")
    write(frame, path)
    return path


def _next_day_row(path: Path, day: date) -> Path:
    frame = transactions(day)
    frame.loc[3, "datetime"] = frame.loc[3, "datetime"] + pd.Timedelta(days=1)
    write(frame, path)
    return path


def _tid_of_another_day(path: Path, day: date) -> Path:
    frame = transactions(day)
    frame.loc[2, "tid"] = int(transactions(DAYS[0])["tid"].iloc[0])  # already stored on the first day
    write(frame, path)
    return path


def _many_columns(path: Path, day: date) -> Path:
    frame = transactions(day).head(20)
    extra = pd.DataFrame(np.zeros((len(frame), 20_000), dtype=np.int8),
                         columns=[f"junk_column_{i}" for i in range(20_000)])
    write(pd.concat([frame, extra], axis=1), path)
    return path


def _huge_field(path: Path, day: date) -> Path:
    frame = transactions(day)
    frame["category"] = frame["category"].astype(object)
    frame.loc[1, "category"] = "X" * (8 << 20)
    write(frame, path)
    return path


def _huge_bad_amount(path: Path, day: date) -> Path:
    frame = transactions(day)
    frame["amount"] = frame["amount"].astype(object)
    frame.loc[4, "amount"] = "9" * 200_000 + "€"
    write(frame, path)
    return path


def _unknown_label_tid(path: Path, day: date) -> Path:
    frame = labels(day)
    frame.loc[1, "tid"] = 999_999_999_999
    write(frame, path)
    return path


def _label_with_other_card(path: Path, day: date) -> Path:
    frame = labels(day)
    frame.loc[2, "cc_num"] = int(frame.loc[2, "cc_num"]) + 1
    write(frame, path)
    return path


def _label_before_charge(path: Path, day: date) -> Path:
    frame = labels(day)
    frame.loc[0, "label_time"] = frame.loc[0, "datetime"] - pd.Timedelta(hours=1)
    write(frame, path)
    return path


def _header_only(path: Path, day: date) -> Path:
    write(transactions(day).head(0), path)
    return path


def _not_utf8(path: Path, day: date) -> Path:
    write(transactions(day), path)
    path.write_bytes(path.read_bytes().replace(b"Grocery", b"Gr\xff\xfecery"))
    return path


CONTENT_CASES = [
    Case("negative amount", "transactions", _negative_amount,
         ("amount", "-40.0", "expect_column_values_to_be_between")),
    Case("truncated last line", "transactions", _truncated, ("cut short",)),
    Case("float tids", "transactions", _float_tids, ("column 'tid'", "2^53")),
    Case("row of the next day", "transactions", _next_day_row, ("datetime", "day")),
    Case("tid of another day", "transactions", _tid_of_another_day, ("column 'tid'", "already stored", "2025-01-01")),
    Case("20,000 extra columns", "transactions", _many_columns, ("unexpected column(s)", "more")),
    Case("an 8 MiB field", "transactions", _huge_field, ("category",)),
    Case("a 200 kB unparseable amount", "transactions", _huge_bad_amount, ("column 'amount'", "not numbers")),
    Case("not UTF-8", "transactions", _not_utf8, ("UTF-8",)),
    Case("label of an unknown tid", "fraud_labels", _unknown_label_tid, ("999999999999", "no stored charge")),
    Case("label with another card", "fraud_labels", _label_with_other_card, ("cc_num differs",)),
    Case("label before its charge", "fraud_labels", _label_before_charge, ("label_time",)),
]
