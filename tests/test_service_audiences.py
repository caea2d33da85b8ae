"""The audience filter language (pure pandas) and export tables, on hand-computed cases."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from targetwise.campaigns.audiences import (
    audience_fields,
    audience_frame,
    export_frame,
    parse_conditions,
    select_audience,
    slugify,
)
from targetwise.errors import ConfigError, DataValidationError


@pytest.fixture
def frame() -> pd.DataFrame:
    segments = pd.DataFrame({"customer_id": ["a", "b", "c", "d"], "cluster_name": ["VIP", "Lapsed", "VIP", None],
                             "cluster": [0, 1, 0, 2], "reason": ["x", "y", "z", "w"]})
    clv = pd.DataFrame({"customer_id": ["a", "b", "c"], "clv": [500.0, 5.0, np.nan], "cluster": [9, 9, 9]})
    features = pd.DataFrame({"customer_id": ["a", "b", "c", "d", "e"], "frequency": [10, 1, 4, 2, 7]})
    return audience_frame({"segments": segments, "clv": clv, "features": features})


def select(frame: pd.DataFrame, *conditions: dict, exclude=()) -> list[str]:
    return select_audience(frame, parse_conditions(conditions), exclude=exclude)


def test_join_names_fields_and_kinds(frame: pd.DataFrame) -> None:
    assert list(frame["customer_id"]) == ["a", "b", "c", "d", "e"]  # outer join, sorted
    fields = audience_fields(frame)
    assert fields["clv"] == "number" and fields["cluster_name"] == "text" and fields["frequency"] == "number"
    assert "cluster" not in fields and {"segments.cluster", "clv.cluster"} <= set(fields)  # ambiguous bare name
    assert "reason" not in fields and "segments.reason" not in fields  # explanations are not filters


def test_each_operator_on_hand_computed_cases(frame: pd.DataFrame) -> None:
    assert select(frame, {"field": "frequency", "op": ">=", "value": 4}) == ["a", "c", "e"]
    assert select(frame, {"field": "frequency", "op": ">", "value": 4}) == ["a", "e"]
    assert select(frame, {"field": "frequency", "op": "<", "value": 4}) == ["b", "d"]
    assert select(frame, {"field": "frequency", "op": "<=", "value": 1}) == ["b"]
    assert select(frame, {"field": "frequency", "op": "==", "value": 7.0}) == ["e"]
    assert select(frame, {"field": "frequency", "op": "in", "value": [1, 2]}) == ["b", "d"]
    assert select(frame, {"field": "cluster_name", "op": "in", "value": ["VIP", "Nobody"]}) == ["a", "c"]
    assert select(frame, {"field": "segments.cluster", "op": "==", "value": 0}) == ["a", "c"]
    # missing values match nothing, not even '!=': c has no CLV, d no cluster name, e no segment at all
    assert select(frame, {"field": "clv", "op": "!=", "value": 5}) == ["a"]
    assert select(frame, {"field": "cluster_name", "op": "!=", "value": "VIP"}) == ["b"]
    # AND of conditions, then the consent exclusion
    both = [{"field": "cluster_name", "op": "==", "value": "VIP"}, {"field": "frequency", "op": ">", "value": 5}]
    assert select(frame, *both) == ["a"]
    assert select(frame, *both, exclude={"a"}) == []
    assert select(frame, exclude={"b"}) == ["a", "c", "d", "e"]  # no condition: everyone minus objections


def test_bad_conditions_fail_with_the_fix(frame: pd.DataFrame) -> None:
    with pytest.raises(DataValidationError, match=r"unknown field 'os\.system'"):
        select(frame, {"field": "os.system", "op": "==", "value": 1})
    with pytest.raises(DataValidationError, match=r"several tables; write one of clv\.cluster, segments\.cluster"):
        select(frame, {"field": "cluster", "op": "==", "value": 1})
    with pytest.raises(DataValidationError, match="'>' needs a numeric field"):
        select(frame, {"field": "cluster_name", "op": ">", "value": "A"})
    with pytest.raises(DataValidationError, match="not a finite number"):
        select(frame, {"field": "clv", "op": ">", "value": "100; DROP TABLE"})
    with pytest.raises(DataValidationError, match="not a finite number"):
        select(frame, {"field": "clv", "op": ">", "value": float("nan")})
    with pytest.raises(DataValidationError, match="needs a list of 1 to 1000 values"):
        select(frame, {"field": "clv", "op": "in", "value": []})
    with pytest.raises(DataValidationError, match="unknown operator 'like'"):
        parse_conditions([{"field": "clv", "op": "like", "value": 1}])
    with pytest.raises(DataValidationError, match="keys field, op, value"):
        parse_conditions([{"field": "clv", "op": "==", "value": 1, "sql": "1=1"}])
    with pytest.raises(DataValidationError, match="repeated customer ids"):
        audience_frame({"clv": pd.DataFrame({"customer_id": ["a", "a"], "clv": [1.0, 2.0]})})
    with pytest.raises(DataValidationError, match="no letters or digits"):
        slugify(" -- ")
    assert slugify("  Lapsed VIPs (Q4)! ") == "lapsed-vips-q4"


def test_export_frames_hash_per_destination_and_count_what_is_left_out() -> None:
    pii = pd.DataFrame({"customer_id": ["a", "b", "c", "d"],
                        "email": ["J.Doe+x@gmail.com", "not-an-email", None, "e@x.org"],
                        "phone": [None, "020 7031 3000", None, None]})
    sha = lambda t: hashlib.sha256(t.encode()).hexdigest()  # noqa: E731
    google = export_frame(["a", "b", "c", "d"], destination="google", opted_out={"d"}, pii=pii, default_country_code=44)
    assert google.frame.to_dict("records") == [
        {"email_sha256": sha("jdoe@gmail.com"), "phone_sha256": None},
        {"email_sha256": None, "phone_sha256": sha("+442070313000")},  # national number + default country code
    ]
    assert (google.members, google.exported, google.excluded_opt_out, google.without_identifier, google.invalid_identifiers) == (4, 2, 1, 1, 1)
    meta = export_frame(["a"], destination="meta", pii=pii)
    assert meta.frame["email_sha256"].tolist() == [sha("j.doe+x@gmail.com")]
    ids = export_frame(["a", "b"], destination="csv", opted_out={"a"})
    assert ids.frame["customer_id"].tolist() == ["b"] and ids.excluded_opt_out == 1
    with pytest.raises(ConfigError, match="unknown export destination 'tiktok'"):
        export_frame(["a"], destination="tiktok")
    with pytest.raises(ConfigError, match="needs the customers' e-mail/phone"):
        export_frame(["a"], destination="google")
