"""The audience filter language (pure pandas) and export tables, on hand-computed cases and literal hashes."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from targetwise.campaigns.audiences import (
    audience_fields,
    audience_frame,
    export_frame,
    export_values,
    parse_conditions,
    parse_export_columns,
    select_audience,
    slugify,
)
from targetwise.errors import ConfigError, DataValidationError
from targetwise.io.exports import csv_bytes


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


SHA = {  # literal SHA-256 digests of the normal forms, so a wrong hash cannot agree with itself
    "test@example.com": "973dfe463ec85785f5f95af5ba3906eedb2d931c24e69824a89ea65dba4e813b",
    "16505551212": "e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176",
    "john": "96d9632f363564cc3032521409cf22a852f2032eec099ed5967c0d000cec607a",
    "smith": "6627835f988e2c5e50533d491163072d3f4f41f5c8b04630150debb3722ca2dd",
    "us": "79adb2a2fce5c6ba215fe5f27f532d4e7edbac4b6a5e09e1ef3a08084a904621",
    "94016": "ea49a862bf6e195fe92e0886ed8a89c6565137f3e90c0742d2a00952b307dd55",
}


def test_export_frames_hash_per_destination_and_count_what_is_left_out() -> None:
    pii = pd.DataFrame({"customer_id": ["a", "b", "c", "d"],
                        "email": ["J.Doe+x@gmail.com", "not-an-email", None, "e@x.org"],
                        "phone": [None, "020 7031 3000", None, None]})
    sha = lambda t: hashlib.sha256(t.encode()).hexdigest()  # noqa: E731
    google = export_frame(["a", "b", "c", "d"], destination="google", opted_out={"d"}, pii=pii, default_country_code=44)
    assert google.frame.to_dict("records") == [
        {"Email": sha("jdoe@gmail.com"), "Phone": None, "First Name": None, "Last Name": None, "Country": None, "Zip": None},
        {"Email": None, "Phone": sha("+442070313000"), "First Name": None, "Last Name": None, "Country": None, "Zip": None},
    ]  # b's national number + the default country code; b's bad e-mail left out
    assert (google.members, google.exported, google.excluded_opt_out, google.without_identifier, google.invalid_identifiers) == (4, 2, 1, 1, 1)
    assert google.warnings == (
        "1 of 3 members who may be contacted have no usable e-mail or phone and are not in the file",
        "1 identifiers could not be normalised and were left out (check the addresses; national phone numbers need country_code=)",
    )
    meta = export_frame(["a"], destination="meta", pii=pii)
    assert meta.frame["email"].tolist() == [sha("j.doe+x@gmail.com")] and meta.warnings == ()
    ids = export_frame(["a", "b"], destination="csv", opted_out={"a"})
    assert ids.frame["customer_id"].tolist() == ["b"] and ids.excluded_opt_out == 1
    with pytest.raises(ConfigError, match="unknown export destination 'tiktok'"):
        export_frame(["a"], destination="tiktok")
    with pytest.raises(ConfigError, match="needs the customers' e-mail/phone"):
        export_frame(["a"], destination="google")


def test_google_and_meta_files_have_exactly_their_template_headers() -> None:
    pii = pd.DataFrame({"customer_id": ["a", "b"], "email": [" Test@Example.com ", None],
                        "phone": ["+1 (650) 555-1212", "+16505551212"],
                        "first_name": ["John", "Ann"], "last_name": [" Smith", None],
                        "country": ["US", "US"], "zip": ["94016-1234", "94016"]})
    google = export_frame(["a", "b"], destination="google", pii=pii)
    assert list(google.frame.columns) == ["Email", "Phone", "First Name", "Last Name", "Country", "Zip"]
    assert google.frame.to_dict("records") == [
        # Google hashes e-mail, phone (E.164 with +) and names; country and zip stay plain text
        {"Email": SHA["test@example.com"], "Phone": "1e231c66011e7a2d867a9cfae267a6aff103cf4913640b6e71a99850fc0ffbc8",
         "First Name": SHA["john"], "Last Name": SHA["smith"], "Country": "us", "Zip": "94016-1234"},
        # no last name: Google matches an address only as a whole, so none of its parts is sent
        {"Email": None, "Phone": "1e231c66011e7a2d867a9cfae267a6aff103cf4913640b6e71a99850fc0ffbc8",
         "First Name": None, "Last Name": None, "Country": None, "Zip": None},
    ]
    meta = export_frame(["a", "b"], destination="meta", pii=pii)
    assert list(meta.frame.columns) == ["email", "phone", "fn", "ln", "country", "zip"]
    assert meta.frame.to_dict("records") == [
        # Meta hashes every key: phone digits with country code, US zip cut to 5 digits
        {"email": SHA["test@example.com"], "phone": SHA["16505551212"], "fn": SHA["john"], "ln": SHA["smith"],
         "country": SHA["us"], "zip": SHA["94016"]},
        {"email": None, "phone": SHA["16505551212"], "fn": hashlib.sha256(b"ann").hexdigest(), "ln": None,
         "country": SHA["us"], "zip": SHA["94016"]},
    ]
    text = csv_bytes(meta.frame).decode()
    assert text.splitlines()[0] == "email,phone,fn,ln,country,zip"
    ann = hashlib.sha256(b"ann").hexdigest()
    assert text.splitlines()[2] == ",".join(["", SHA["16505551212"], ann, "", SHA["us"], SHA["94016"]])  # empty cells


def test_no_identifier_for_anyone_is_refused_not_a_header_only_file() -> None:
    pii = pd.DataFrame({"customer_id": ["a", "b"], "email": [None, "nope"], "phone": [None, None]})
    with pytest.raises(DataValidationError, match=r"none of the 3 members who may be contacted") as caught:
        export_frame(["a", "b", "c", "d"], destination="google", opted_out={"d"}, pii=pii)
    error = caught.value
    assert error.http_status == 422 and "customer_pii" in error.fix and "country_code" in error.fix
    assert error.details == {"members": 4, "excluded_opt_out": 1, "without_identifier": 3, "invalid_identifiers": 1}
    with pytest.raises(DataValidationError, match="usable e-mail address or phone number for meta"):
        export_frame(["a"], destination="meta", pii=pii.iloc[:0])
    # nobody left after consent: the (empty) file is the true answer, with a warning saying why
    nobody = export_frame(["a", "b"], destination="meta", opted_out={"a", "b"}, pii=pii)
    assert nobody.exported == 0 and list(nobody.frame.columns) == ["email", "phone", "fn", "ln", "country", "zip"]
    assert nobody.warnings == ("all 2 members opted out of this channel or of profiling: the file has a header only",)
    assert export_frame([], destination="csv").warnings == ("the audience has no members: the file has a header only",)


def test_export_columns_from_run_tables() -> None:
    segments = pd.DataFrame({"customer_id": ["a", "b"], "cluster_name": ["VIP", "=cmd"], "rfm_segment": ["Champions", "At Risk"],
                             "cluster": [0, 1]})
    clv = pd.DataFrame({"customer_id": ["a", "b"], "clv": [500.0, -5.0], "p_alive": [0.9, 0.2]})  # no interval in this run
    scores = pd.DataFrame({"customer_id": ["b", "a"], "p_purchase_30d": [0.1, 0.7], "p_churn_90d": [0.8, 0.05],
                           "drivers_purchase_30d": ["[]", "[]"], "expected_days_to_next_order": [None, 12.0]})
    recs = pd.DataFrame({"customer_id": ["a", "a", "a", "b"], "rank": [2, 1, 3, 1], "product_id": ["P2", "P1", "P3", "-P9"],
                         "score": [0.5, 0.9, 0.1, 0.4], "reason": ["x"] * 4})
    assert parse_export_columns(" segment, CLV,segment ,,recommendations") == ("segment", "clv", "recommendations")
    assert parse_export_columns(None) == () and parse_export_columns(["scores"]) == ("scores",)
    with pytest.raises(DataValidationError, match="unknown export column 'email'") as caught:
        parse_export_columns("segment,email")
    assert "segment, clv, scores, recommendations" in caught.value.fix
    values = export_values(("segment", "clv", "scores", "recommendations"), segments=segments, clv=clv,
                           propensity=scores, recommendations=recs, top_n=2)
    result = export_frame(["b", "a", "c"], destination="csv", opted_out={"c"}, values=values)
    frame = result.frame
    assert list(frame.columns) == ["customer_id", "cluster_name", "rfm_segment", "clv", "clv_lower", "clv_upper",
                                   "p_purchase_30d", "p_churn_90d", "recommended_products"]
    assert frame["customer_id"].tolist() == ["b", "a"]  # the audience's order, opted-out c left out
    assert frame["clv"].tolist() == [-5.0, 500.0] and frame["clv_lower"].isna().all()
    assert frame["p_purchase_30d"].tolist() == [0.1, 0.7] and frame["p_churn_90d"].tolist() == [0.8, 0.05]
    assert frame["recommended_products"].tolist() == ["-P9", "P1|P2"]  # best first, top 2
    lines = csv_bytes(frame).decode().splitlines()
    assert lines[1] == "b,'=cmd,At Risk,-5.0,,,0.1,0.8,'-P9"  # text cells escaped, numbers left numbers
    assert lines[2] == "a,VIP,Champions,500.0,,,0.7,0.05,P1|P2"
    with pytest.raises(DataValidationError, match="top_n must be 1 to 50"):
        export_values(("recommendations",), recommendations=recs, top_n=0)
    with pytest.raises(DataValidationError, match="extra columns are for csv/parquet"):
        export_frame(["a"], destination="google", pii=pd.DataFrame({"customer_id": ["a"], "email": ["a@b.co"]}),
                     values=values)
