"""The embedded natural-language audience parser: a sentence to audience conditions, with no model endpoint.

It reads the common shapes marketers write (each is one extractor below, tried in
this order, each consuming the words it used):

* ``likely``: "likely to buy", "very likely to churn", "unlikely to order", "at risk of churning":
  the propensity fields with a stated default threshold (:data:`LIKELY`);
* ``top``: "top 10% by CLV", "bottom 20% of spend": the field's quantile in this run;
* ``window``: "more than 2 orders in the last 90 days", "ordered at least twice in the past 30 days";
* ``time``: "have not ordered in 60 days", "bought in the last 2 weeks", "inactive for 3 months",
  "customers for over a year", "joined in the last 30 days";
* ``frequency``: "one-time buyers", "bought only once", "repeat customers";
* ``channel``: "who mostly buy online / in store / in the app";
* ``names``: segment, cluster and category names of the run, alone or as "and"/"or" lists
  ("champions and loyal customers"), negated with "not"/"except"/"excluding";
* ``comparison``: a field phrase from the lexicon and a number, money or a percentage
  ("spent over £500", "worth more than 1.5k", "more than 5 orders", "5+ orders",
  "churn risk above 60%", "average order value between 20 and 50").

What is left after the extractors, minus filler words, is returned in ``unresolved``,
never silently dropped; so is an "or" between conditions (audiences are an AND of
conditions). Field phrases come from the catalogue's synonyms
(:data:`targetwise.assist.catalogue.KNOWN`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from targetwise.assist.catalogue import FieldCatalogue, FieldInfo

__all__ = ["LIKELY", "OR_UNRESOLVED", "SHAPES", "ParsedAudience", "describe_condition", "format_where", "parse_audience_text"]

#: "likely" and friends as probability thresholds (said in the explanation whenever one is used)
LIKELY: dict[str, tuple[str, float]] = {
    "very likely": (">=", 0.7), "highly likely": (">=", 0.7), "most likely": (">=", 0.7),
    "likely": (">=", 0.5), "at risk of": (">=", 0.5), "unlikely": ("<", 0.5), "not likely": ("<", 0.5),
}
SHAPES = ("likely", "top", "window", "time", "frequency", "channel", "names", "comparison")
DAYS_PER = {"day": 1, "week": 7, "month": 30, "year": 365}
WORD_NUMBERS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20, "thirty": 30, "forty": 40,
    "fifty": 50, "sixty": 60, "ninety": 90, "hundred": 100, "once": 1, "twice": 2, "thrice": 3,
}
CONSUMED = "\x00"
OR_UNRESOLVED = "'or' between conditions (an audience is an AND of its conditions: make one audience per side)"
_FILLER = (
    "customers customer clients client people persons shoppers users members contacts who that which whose are is "
    "were was have has had been be being and with a an the all any of in on for to from by me show find give list "
    "get select i we want need our my their those these also both currently so far total ago audience everyone "
    "anyone please only just still do did does at as plus them they who've whove than there here somebody anybody "
    "ones one's let's lets us build make create buyers lovers fans segment segments"
)
STOPWORDS = frozenset(_FILLER.split())

_NUM_WORDS = "|".join(sorted(WORD_NUMBERS, key=len, reverse=True))
NUM = (r"(?P<{g}>(?:[£$€]\s?)?(?:\d{{1,3}}(?:,\d{{3}})+|\d+)(?:\.\d+)?(?:\s?(?:k|m|%|percent|pct)(?![a-z]))?"
       r"(?:\s?(?:gbp|usd|eur|pounds|dollars|euros)(?![a-z]))?|(?:" + _NUM_WORDS + r")(?![a-z]))")
UNIT = r"(?P<unit>days?|weeks?|months?|years?)"
COMPARATORS: list[tuple[str, str]] = [
    (">=", r"at least|no less than|not less than|no fewer than|minimum of|a minimum of|>="),
    ("<=", r"at most|no more than|not more than|up to|maximum of|a maximum of|<="),
    (">", r"more than|over|above|greater than|exceeding|higher than|bigger than|larger than|in excess of|>"),
    ("<", r"less than|under|below|fewer than|lower than|<"),
    ("==", r"exactly|equal to|equals|=="),
]
COMP = "(?P<cmp>" + "|".join(p for _, p in COMPARATORS) + ")"
POSTFIX = r"(?P<post>or more|or over|or above|and above|and up|and over|\+|or less|or fewer|or under|and below|and under)"
_GAP = r"(?:\s+(?:of|is|are|was|were|a|an|the|total|in total|so far|currently|that is|which is|amount|amounting to))*"
_ORDER_VERBS = r"(?:ordered|bought|purchased|shopped|ordered anything|bought anything|purchased anything|placed an order|" \
               r"ordered something|bought something|purchased something|" \
               r"made a purchase|made an order|been back|come back|visited|returned to buy)"
_NEGATION = r"(?:not|except|excluding|other than|but not|apart from|besides|without|no)(?:\s+(?:the|all|any))?\s*$"


@dataclass
class ParsedAudience:
    """Conditions read from a text, one explanation sentence each, and what could not be read."""

    conditions: list[dict[str, Any]] = field(default_factory=list)
    explanation: list[str] = field(default_factory=list)
    unresolved: list[str] = field(default_factory=list)
    shapes: list[str] = field(default_factory=list)  # the shape each condition came from (for the benchmark)


def format_where(condition: dict[str, Any]) -> str:
    """A condition as a ``--where`` string (``clv > 500``, ``rfm_segment in Champions,Loyal``)."""
    value = condition["value"]
    text = ",".join(_plain_number(v) for v in value) if condition["op"] == "in" else _plain_number(value)
    return f"{condition['field']} {condition['op']} {text}"


def _plain_number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _tidy(number: float) -> int | float:
    return int(number) if float(number).is_integer() else round(float(number), 6)


def describe_condition(catalogue: FieldCatalogue, condition: dict[str, Any], note: str = "") -> str:
    """One sentence saying what a condition selects, in the field's unit, with its ``--where`` form."""
    info = catalogue.get(str(condition["field"]))
    op, value = condition["op"], condition["value"]
    if info is None:
        return f"{format_where(condition)}."
    words = {">": "is over", ">=": "is at least", "<": "is under", "<=": "is at most", "==": "is",
             "!=": "is not", "in": "is one of"}[op]
    if op == "in":
        shown = ", ".join(str(v) for v in value)
    elif info.unit == "money" and isinstance(value, int | float):
        shown = catalogue.money(value)
    elif info.unit in ("probability", "share") and isinstance(value, int | float):
        shown = f"{value:.0%}" if round(value * 100, 6).is_integer() else f"{value:.1%}"
    elif info.unit == "days" and isinstance(value, int | float):
        shown = f"{_plain_number(value)} days"
    else:
        shown = _plain_number(value)
    where = format_where({"field": info.name, "op": op, "value": value})
    text = f"{info.description[0].upper()}{info.description[1:]} {words} {shown} ({where})"
    return f"{text}; {note}." if note else f"{text}."


class _Text:
    """The working text: consumed spans are blanked with a character no pattern matches."""

    def __init__(self, text: str) -> None:
        self.text = text

    def consume(self, start: int, end: int) -> None:
        self.text = self.text[:start] + CONSUMED * (end - start) + self.text[end:]

    def finditer(self, pattern: str) -> list[re.Match[str]]:
        return list(re.finditer(pattern, self.text))


def normalise(text: str) -> str:
    """Lower case, straight quotes, contractions spelled out, one space between words."""
    out = text.lower().replace("\u2019", "'").replace("\u2018", "'").replace("\u00a0", " ")
    out = out.replace("can't", "cannot").replace("won't", "will not")
    out = re.sub(r"n't\b", " not", out)
    out = out.replace("&", " and ")
    out = re.sub(r"[;:!?\"()\[\]]", " ", out)
    out = re.sub(r"(?<!\d)[.,](?!\d)", " ", out)  # punctuation, not decimal points or thousands separators
    return re.sub(r"\s+", " ", out).strip()


def parse_number(raw: str) -> tuple[float, str]:
    """(value, suffix): '£1,200' -> (1200, ''), '1.5k' -> (1500, ''), '60%' -> (60, '%'), 'twice' -> (2, '')."""
    text = raw.strip().lower()
    if text in WORD_NUMBERS:
        return float(WORD_NUMBERS[text]), ""
    text = re.sub(r"^[£$€]\s?", "", text)
    text = re.sub(r"\s?(gbp|usd|eur|pounds|dollars|euros)$", "", text)
    suffix = ""
    match = re.search(r"\s?(k|m|%|percent|pct)$", text)
    if match:
        suffix = {"percent": "%", "pct": "%"}.get(match.group(1), match.group(1))
        text = text[: match.start()]
    value = float(text.replace(",", ""))
    if suffix == "k":
        return value * 1_000, ""
    if suffix == "m":
        return value * 1_000_000, ""
    return value, suffix


class _Parser:
    def __init__(self, text: str, catalogue: FieldCatalogue, frame: pd.DataFrame | None) -> None:
        self.original = text
        self.work = _Text(normalise(text))
        self.catalogue = catalogue
        self.frame = frame
        self.result = ParsedAudience()
        self.positions: list[int] = []

    # -- helpers ---------------------------------------------------------------------------
    def has(self, name: str) -> bool:
        return self.catalogue.get(name) is not None

    def add(self, shape: str, name: str, op: str, value: Any, note: str = "", *, at: int = 0) -> None:
        info = self.catalogue.get(name)
        assert info is not None
        if isinstance(value, float | int) and not isinstance(value, bool):
            value = _tidy(value)
        condition = {"field": info.name, "op": op, "value": value}
        if condition in self.result.conditions:
            return
        self.result.conditions.append(condition)
        self.result.explanation.append(describe_condition(self.catalogue, condition, note))
        self.result.shapes.append(shape)
        self.positions.append(at)

    def days(self, match: re.Match[str], group: str = "dn") -> tuple[float, str]:
        raw = match.group(group) or "a"
        value, _ = parse_number(raw)
        unit = match.group("unit").rstrip("s")
        days = value * DAYS_PER[unit]
        note = "" if unit == "day" else f"{_plain_number(value)} {unit}{'s' if value != 1 else ''} read as " \
            f"{_plain_number(days)} days"
        return days, note

    def field_pattern(self, fields: list[FieldInfo]) -> tuple[str, dict[str, str]]:
        phrases: dict[str, str] = {}
        for info in fields:
            for phrase in (*info.synonyms, info.name.split(".")[-1].replace("_", " "), info.name):
                phrases.setdefault(phrase, info.name)
        ordered = sorted(phrases, key=len, reverse=True)
        return "(?P<field>" + "|".join(re.escape(p) for p in ordered) + r")(?![a-z_])", phrases

    # -- the shapes, in order --------------------------------------------------------------
    def likely(self) -> None:
        tasks = [("buy|purchase|order|shop|convert|come back|return", "p_purchase_30d"),
                 ("churn|leave|lapse|go away|stop buying|drop off|be lost|churning|leaving|lapsing", "p_churn_90d")]
        words = "|".join(sorted((re.escape(k) for k in LIKELY), key=len, reverse=True))
        for verbs, name in tasks:
            if not self.has(name):
                continue
            pattern = rf"(?<![a-z])(?P<how>{words})\s+(?:to\s+)?(?:be\s+)?(?P<verb>{verbs})(?:\s+again)?(?![a-z])"
            for match in self.work.finditer(pattern):
                op, threshold = LIKELY[match.group("how")]
                note = f"'{match.group('how')}' read as a probability {'of at least' if op == '>=' else 'below'} " \
                       f"{threshold:.0%} (the default)"
                self.add("likely", name, op, threshold, note, at=match.start())
                self.work.consume(match.start(), match.end())

    def top(self) -> None:
        fields = [f for f in self.catalogue.fields.values() if f.kind == "number"]
        if self.frame is None or not fields:
            return
        pattern, phrases = self.field_pattern(fields)
        for match in self.work.finditer(
            rf"(?<![a-z])(?P<end>top|bottom|highest|lowest)\s+(?P<pct>\d+(?:\.\d+)?)\s?(?:%|percent)"
            rf"(?:\s+of\s+customers)?\s+(?:by|of|in|on|for)\s+{pattern}"
        ):
            name = phrases[match.group("field")]
            share = float(match.group("pct")) / 100
            if not 0 < share < 1:
                continue
            top = match.group("end") in ("top", "highest")
            column = pd.to_numeric(self.frame[name], errors="coerce").dropna().to_numpy(dtype=float)
            if not len(column):
                continue
            cut = float(np.quantile(column, 1 - share if top else share))
            cut = round(cut, 2)
            note = f"the {match.group('end')} {share:.0%} by {name} in this run ({'at least' if top else 'at most'} " \
                   f"the {(1 - share if top else share):.0%} quantile)"
            self.add("top", name, ">=" if top else "<=", cut, note, at=match.start())
            self.work.consume(match.start(), match.end())

    def window(self) -> None:
        windows = {30: "orders_30d", 90: "orders_90d", 365: "orders_365d"}
        duration = rf"(?:in|within|during|over)\s+(?:the\s+)?(?:last|past|previous)\s+(?:{NUM.format(g='dn')})?\s*{UNIT}"
        counted = rf"(?P<c>{NUM.format(g='cnum')})\s+(?:orders?|purchases?|times)"
        shapes = [
            rf"{COMP}\s+{counted}\s+{duration}",
            rf"(?:{_ORDER_VERBS}|orders?|purchases?)\s+{COMP}\s+(?P<c>{NUM.format(g='cnum')})(?:\s+times)?\s+{duration}",
            rf"(?P<c>{NUM.format(g='cnum')})\s?(?P<post>\+|or more)\s+(?:orders?|purchases?)\s+{duration}",
        ]
        for shape in shapes:
            for match in self.work.finditer(shape):
                count, _ = parse_number(match.group("cnum"))
                raw = match.group("dn") or "a"
                span, _ = parse_number(raw)
                days = span * DAYS_PER[match.group("unit").rstrip("s")]
                name = windows.get(int(days))
                if name is None or not self.has(name):
                    # no such window in the features: all of it is unresolved (not read as all-time orders)
                    self.result.unresolved.append(match.group().strip())
                    self.work.consume(match.start(), match.end())
                    continue
                op = _op(match.groupdict().get("cmp"), match.groupdict().get("post"))
                self.add("window", name, op, count, at=match.start())
                self.work.consume(match.start(), match.end())

    def time(self) -> None:
        dur = rf"(?:{NUM.format(g='dn')})?\s*{UNIT}"
        last = r"(?:the\s+)?(?:last|past|previous)?\s*"
        more = r"(?:(?P<cmp>more than|over|at least)\s+)?"
        rules: list[tuple[str, str, str]] = [
            (rf"(?:not|never)\s+(?:{_ORDER_VERBS})(?:\s+\w+)?\s+(?:in|for|within|during)\s+{last}{more}{dur}",
             "recency_days", ">="),
            (rf"(?:no|without\s+(?:an?\s+)?)\s*(?:orders?|purchases?)\s+(?:in|for|within|during)\s+{last}{dur}",
             "recency_days", ">="),
            (rf"(?:inactive|lapsed|dormant|quiet|away|gone)\s+(?:for\s+)?{more}{dur}",
             "recency_days", ">="),
            (rf"(?:{_ORDER_VERBS}|active|ordering|buying|shopping)\s+(?:in|within|during)\s+{last}{dur}",
             "recency_days", "<="),
            (rf"(?:{_ORDER_VERBS}|last\s+(?:ordered|bought|purchased|order|purchase))\s+(?:was\s+)?"
             rf"(?P<cmp>more than|over|less than|under|within)\s+{dur}\s+ago", "recency_days", "cmp"),
            (rf"(?:customers?|members?|with us|shopping with us|around)\s+for\s+(?P<cmp>more than|over|at least|less than|"
             rf"under)\s+{dur}", "tenure_days", "cmp"),
            (rf"(?:joined|signed up|new|first\s+(?:ordered|bought|purchased|order|purchase))\s+(?:in|within|during)\s+"
             rf"{last}{dur}", "tenure_days", "<="),
            (rf"(?:joined|signed up|became (?:a )?customers?|first\s+(?:ordered|bought|purchased|order|purchase))\s+"
             rf"(?:was\s+)?(?P<cmp>more than|over|less than|under|within)\s+{dur}\s+ago", "tenure_days", "cmp"),
        ]
        for pattern, name, op in rules:
            if not self.has(name):
                continue
            for match in self.work.finditer(rf"(?<![a-z]){pattern}(?![a-z])"):
                days, note = self.days(match, "dn")
                chosen = op
                if match.groupdict().get("cmp"):
                    chosen = {"more than": ">", "over": ">", "at least": ">=", "less than": "<", "under": "<",
                              "within": "<="}[match.group("cmp")]
                self.add("time", name, chosen, days, note, at=match.start())
                self.work.consume(match.start(), match.end())

    def frequency(self) -> None:
        if not self.has("frequency"):
            return
        rules = [
            (r"(?:one[- ]time|one[- ]off|single[- ]order|first[- ]time)\s+(?:buyers?|customers?|shoppers?|purchasers?)",
             "==", 1),
            (r"(?:only\s+)?(?:ordered|bought|purchased|shopped)\s+(?:only\s+)?once", "==", 1),
            (r"(?:only\s+)?(?:one|a single)\s+(?:order|purchase)", "==", 1),
            (r"(?:repeat|returning)\s+(?:buyers?|customers?|shoppers?|purchasers?)", ">=", 2),
            (r"(?:ordered|bought|purchased|shopped)\s+(?:more than once|again|repeatedly)", ">=", 2),
        ]
        for pattern, op, value in rules:
            for match in self.work.finditer(rf"(?<![a-z]){pattern}(?![a-z])"):
                self.add("frequency", "frequency", op, value, at=match.start())
                self.work.consume(match.start(), match.end())

    def channel(self) -> None:
        channels = {"web": r"online|on the web|on the website|on our website|web", "store": r"in store|in stores|in the store|in-store|in shops|offline",
                    "app": r"in the app|on the app|through the app|via the app|in our app|app"}
        for channel, words in channels.items():
            name = f"channel_share_{channel}"
            if not self.has(name):
                continue
            pattern = rf"(?<![a-z])(?:who\s+)?(?:mostly|mainly|usually|primarily|mostly\s+buy|mainly\s+buy)\s+" \
                      rf"(?:buy\s+|shop\s+|order\s+|purchase\s+)?(?:{words})(?![a-z])|(?<![a-z])(?:{words})\s+" \
                      rf"(?:shoppers|buyers|customers|users)(?![a-z])"
            for match in self.work.finditer(pattern):
                self.add("channel", name, ">=", 0.5, "'mostly' read as at least half of the orders (the default)",
                         at=match.start())
                self.work.consume(match.start(), match.end())

    def names(self) -> None:
        named = [(f, v) for f in ("cluster_name", "rfm_segment", "top_category") for v in self.catalogue.names_of(f)]
        if not named:
            return
        phrases: dict[str, tuple[str, str]] = {}
        for name, value in named:
            spelled = re.sub(r"[\s_-]+", " ", value.lower()).strip()
            for variant in (spelled, *_ALIASES.get(spelled, ())):
                phrases.setdefault(variant, (name, value))
        ordered = sorted(phrases, key=len, reverse=True)
        alternatives = "|".join(_name_pattern(p) for p in ordered)
        single = rf"(?<![a-z])(?:{alternatives})(?![a-z])"
        joiner = r"(?:\s*,\s*|\s+)(?:and\s+|or\s+|plus\s+|as well as\s+|and also\s+|and the\s+|or the\s+|,\s*)?(?:the\s+)?"
        group = rf"{single}(?:{joiner}{single})*"
        positive: dict[str, list[str]] = {}
        first: dict[str, int] = {}
        for match in self.work.finditer(group):
            values = [self.lookup_name(m.group(), phrases) for m in re.finditer(single, match.group())]
            before = self.work.text[: match.start()]
            negation = re.search(rf"(?<![a-z]){_NEGATION}", before)
            start = match.start()
            buying = re.search(r"(?<![a-z])(?:who\s+)?(?:mostly|mainly|usually|primarily|often)\s+(?:buy|buys|shop for|"
                               r"shops for|purchase|purchases|order|orders)\s+$", before)
            if buying is not None and all(f == "top_category" for f, _ in values):
                start = buying.start()
            if negation is not None and negation.end() == len(before):
                start = negation.start()
                for field_name, value in values:
                    self.add("names", field_name, "!=", value, at=start)
            else:
                for field_name, value in values:
                    positive.setdefault(field_name, [])
                    first.setdefault(field_name, start)
                    if value not in positive[field_name]:
                        positive[field_name].append(value)
            self.work.consume(start, match.end())
        for field_name, values in positive.items():
            if len(values) == 1:
                self.add("names", field_name, "==", values[0], at=first[field_name])
            else:
                self.add("names", field_name, "in", values, at=first[field_name])

    @staticmethod
    def lookup_name(found: str, phrases: dict[str, tuple[str, str]]) -> tuple[str, str]:
        spelled = re.sub(r"[\s-]+", " ", found).strip()
        for candidate in (spelled, spelled[:-1] if spelled.endswith("s") else spelled, spelled + "s"):
            if candidate in phrases:
                return phrases[candidate]
        raise KeyError(found)  # the alternatives above were built from these phrases

    def comparison(self) -> None:
        fields = [f for f in self.catalogue.fields.values() if f.kind == "number"]
        if not fields:
            return
        pattern, phrases = self.field_pattern(fields)
        num = NUM.format(g="num")
        num2 = NUM.format(g="num2")
        after = (rf"(?:\s+{UNIT})?(?:\s+(?:ago|in total|so far|total|of (?:what they|their) (?:bought|ordered|"
                 rf"purchases|orders|items|units)))?")
        after2 = after.replace("<unit>", "<unit2>")
        verb = rf"(?:(?:{_ORDER_VERBS}|placed|made|have|has|with)\s+)?"
        shapes = [
            rf"{pattern}{_GAP}\s+(?:between|from)\s+{num}\s+(?:and|to)\s+{num2}{after}",
            rf"(?:between|from)\s+{num}\s+(?:and|to)\s+{num2}\s+(?:in\s+)?{pattern}",
            rf"{pattern}{_GAP}\s+{COMP}\s+{num}{after}\s+and\s+{COMP.replace('<cmp>', '<cmp2>')}\s+{num2}{after2}",
            rf"{pattern}{_GAP}\s+{COMP}\s+{num}{after}",
            rf"{pattern}{_GAP}\s+(?:of\s+)?{num}\s?{POSTFIX}",
            rf"{verb}{COMP}\s+{num}\s+(?:in\s+)?{pattern}",
            rf"{verb}{num}\s?{POSTFIX}\s+{pattern}",
            rf"{pattern}\s*(?P<cmp>>=|<=|==|>|<|=)\s*{num}",
            rf"(?:{_ORDER_VERBS})\s+{COMP}\s+(?P<num>(?:twice|once|thrice|\d+\s+times))",
        ]
        for shape in shapes:
            for match in self.work.finditer(rf"(?<![a-z_]){shape}"):
                groups = match.groupdict()
                name = phrases.get(groups.get("field") or "", "frequency")
                info = self.catalogue.get(name)
                if info is None:
                    continue
                raw = groups["num"].replace(" times", "")
                value, note = self.value_for(info, raw, groups.get("unit"))
                if value is None:
                    continue
                if groups.get("cmp2"):
                    second, note2 = self.value_for(info, groups["num2"], groups.get("unit2"))
                    if second is None:
                        continue
                    self.add("comparison", name, _op(groups["cmp"], None), value, note, at=match.start())
                    self.add("comparison", name, _op(groups["cmp2"], None), second, note2, at=match.start())
                elif groups.get("num2"):
                    high, note2 = self.value_for(info, groups["num2"], groups.get("unit"))
                    if high is None:
                        continue
                    self.add("comparison", name, ">=", value, note, at=match.start())
                    self.add("comparison", name, "<=", high, note2, at=match.start())
                else:
                    self.add("comparison", name, _op(groups.get("cmp"), groups.get("post")), value, note, at=match.start())
                self.work.consume(match.start(), match.end())

    def value_for(self, info: FieldInfo, raw: str, unit: str | None) -> tuple[float | None, str]:
        value, suffix = parse_number(raw)
        if info.unit in ("probability", "share"):
            if re.match(r"\s*[£$€]", raw) or re.search(r"(gbp|usd|eur|pounds|dollars|euros)\s*$", raw):
                return None, ""  # money for a share: left for `unresolved`
            if suffix == "%" or value > 1:
                note = "" if suffix == "%" else f"{_plain_number(value)} read as {_plain_number(value)}%"
                return value / 100, note
            return value, ""
        if suffix == "%":
            return None, ""  # a percentage of money or counts is not a threshold: left for `unresolved`
        if info.unit == "days" and unit:
            days = value * DAYS_PER[unit.rstrip("s")]
            word = unit.rstrip("s")
            note = "" if word == "day" else f"{_plain_number(value)} {unit} read as {_plain_number(days)} days"
            return days, note
        return value, ""

    def leftovers(self) -> None:
        for fragment in self.work.text.split(CONSUMED):
            words = fragment.split()
            kept = [w for w in words if w not in STOPWORDS]
            if not kept:
                continue
            # trim filler at both ends, keep it inside ("in london" -> "london", "who like jazz" -> "like jazz")
            while words and words[0] in STOPWORDS:
                words.pop(0)
            while words and words[-1] in STOPWORDS:
                words.pop()
            part = " ".join(words)
            self.result.unresolved.append(OR_UNRESOLVED if part == "or" else part)

    def run(self) -> ParsedAudience:
        for step in (self.likely, self.top, self.window, self.time, self.frequency, self.channel, self.names,
                     self.comparison):
            step()
        self.leftovers()
        order = sorted(range(len(self.positions)), key=lambda i: (self.positions[i], i))
        r = self.result
        r.conditions, r.explanation, r.shapes = ([r.conditions[i] for i in order], [r.explanation[i] for i in order],
                                                 [r.shapes[i] for i in order])
        return r


_ALIASES: dict[str, tuple[str, ...]] = {
    "at risk": ("at-risk",),
    "cannot lose them": ("can not lose them", "cannot lose", "must not lose"),
    "need attention": ("needs attention", "needing attention"),
    "about to sleep": ("about-to-sleep", "almost asleep"),
    "potential loyalist": ("potential loyalists",),
    "champions": ("champion",),
    "home decor": ("home decoration",),
}


def _name_pattern(phrase: str) -> str:
    """A name as a pattern: spaces or dashes between words, the plural's "s" optional."""
    escaped = re.escape(phrase).replace(r"\ ", r"[\s-]+")
    return escaped[:-1] + "s?" if phrase.endswith("s") else escaped + "s?"


def _op(cmp: str | None, post: str | None) -> str:
    if post:
        return ">=" if post.strip() in ("or more", "or over", "or above", "and above", "and up", "and over", "+") else "<="
    if cmp is None:
        return "=="
    cmp = cmp.strip()
    if cmp == "=":
        return "=="
    for op, alternatives in COMPARATORS:
        if cmp in alternatives.split("|"):
            return op
    return "=="


def parse_audience_text(
    text: str, catalogue: FieldCatalogue, *, frame: pd.DataFrame | None = None,
    matcher: Callable[[str, FieldCatalogue], tuple[str, str, float] | None] | None = None,
) -> ParsedAudience:
    """Read ``text`` into conditions over ``catalogue`` (``frame``: the run's audience frame, for "top N%").

    ``matcher`` (optional, see :mod:`targetwise.assist.semantic`) maps an unresolved
    fragment to a (field, name, similarity) by meaning; a match becomes a condition and
    its explanation says so.
    """
    parsed = _Parser(text, catalogue, frame).run()
    if matcher is None or not parsed.unresolved:
        return parsed
    still: list[str] = []
    adder = _Parser("", catalogue, frame)
    adder.result = parsed
    for fragment in parsed.unresolved:
        kept: list[str] = []
        for chunk in _chunks(fragment):
            found = matcher(chunk, catalogue)
            if found is None:
                kept.append(chunk)
                continue
            name, value, similarity = found
            adder.add("names", name, "==", value,
                      f"'{chunk}' matched to '{value}' by meaning (MiniLM similarity {similarity:.2f})")
        if kept:
            still.append(fragment if len(kept) == len(_chunks(fragment)) else " ".join(kept))
    parsed.unresolved = still
    return parsed


def _chunks(fragment: str) -> list[str]:
    """Runs of non-filler words of a fragment ("kitchn lovers in london" -> ["kitchn", "london"])."""
    chunks: list[list[str]] = [[]]
    for word in fragment.split():
        if word in STOPWORDS:
            chunks.append([])
        else:
            chunks[-1].append(word)
    return [" ".join(c) for c in chunks if c]
