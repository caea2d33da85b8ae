"""The synthetic retailer's fixed parameters: product vocabulary by category, the planted customer
types and the shares and names every draw of :func:`targetwise.synthetic.generate_retailer` uses."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from targetwise._dtypes import STRING_DTYPE

#: pandas dtype for each schema column kind (text: the NaN-backed string dtype, ``str()`` is "str").
PANDAS_DTYPES: dict[str, object] = {
    "id": STRING_DTYPE,
    "string": STRING_DTYPE,
    "json": STRING_DTYPE,
    "timestamp": "datetime64[us]",
    "integer": "int64",
    "number": "float64",
    "boolean": "bool",
}

# --- product catalogue vocabulary -------------------------------------------------
# category -> (base price, nouns, materials, selling phrases). Words are category
# specific so that TF-IDF similarity of names/descriptions follows the category.
# fmt: off
CATEGORIES: dict[str, tuple[float, tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "kitchen": (
        7.5,
        ("mug", "teapot", "mixing bowl", "cake tin", "spatula", "apron", "chopping board", "tea towel",
         "storage jar"),
        ("ceramic", "enamel", "bamboo", "stoneware", "cotton"),
        ("Dishwasher safe and made for everyday baking and cooking.",
         "A kitchen essential for tea, coffee and weekend bakes.",
         "Food safe glaze; lovely on an open kitchen shelf."),
    ),
    "home_decor": (
        14.0,
        ("cushion cover", "candle holder", "photo frame", "vase", "wall clock", "lantern", "mirror", "throw"),
        ("velvet", "brass", "linen", "rattan", "glass"),
        ("Brings warmth to a living room, bedroom or hallway.",
         "A decorative accent for the mantelpiece or sideboard.",
         "Pairs well with soft lighting and natural interiors."),
    ),
    "garden": (
        11.0,
        ("planter", "watering can", "bird feeder", "trowel", "seed tin", "hanging basket", "garden kneeler"),
        ("zinc", "terracotta", "galvanised steel", "wicker", "weatherproof wood"),
        ("Weatherproof for the patio, balcony or allotment.",
         "For keen gardeners: sow, grow and water through the seasons.",
         "Attracts garden birds and survives frost and rain."),
    ),
    "toys": (
        9.0,
        ("jigsaw puzzle", "spinning top", "skipping rope", "rag doll", "building blocks", "kite", "toy car"),
        ("wooden", "tin", "plush", "felt"),
        ("Hours of play for children aged three and up.",
         "A classic toy for playtime in the nursery or garden.",
         "Safety tested; a favourite party bag and birthday toy."),
    ),
    "stationery": (
        3.5,
        ("notebook", "pencil case", "greeting card", "wrapping paper", "gift tag", "diary", "postcard set"),
        ("kraft paper", "recycled card", "letterpress", "leather-bound"),
        ("Write, sketch and plan: lined pages with a sturdy cover.",
         "For letters, lists and thank-you notes at the desk.",
         "Printed on FSC paper; envelopes included."),
    ),
    "gifts": (
        24.0,
        ("keepsake box", "jewellery dish", "hip flask", "photo album", "music box", "gift hamper"),
        ("silver-plated", "porcelain", "engraved leather", "mother-of-pearl"),
        ("Arrives gift wrapped: a memorable present for birthdays and anniversaries.",
         "A thoughtful keepsake for weddings, christenings and Christmas.",
         "Personalise it for someone special."),
    ),
    "lighting": (
        18.0,
        ("fairy lights", "LED lantern", "night light", "table lamp", "string lights"),
        ("battery powered", "USB rechargeable", "solar", "warm white"),
        ("Bulbs last 10,000 hours; a soft glow for evenings.",
         "Timer function and low energy LEDs.",
         "Indoor and outdoor lighting for festive and cosy nights."),
    ),
    "accessories": (
        13.0,
        ("scarf", "tote bag", "purse", "umbrella", "hair clip", "gloves"),
        ("wool", "canvas", "silk", "faux leather"),
        ("A wardrobe staple to wear every day of the week.",
         "Lightweight fashion accessory that folds into a handbag.",
         "Soft to the touch; hand wash cold."),
    ),
}
# fmt: on
_COLOURS = ("red", "blue", "pink", "green", "ivory", "black", "mustard", "sage")
_STYLES = ("vintage", "retro", "floral", "polka dot", "scandi", "rustic", "regency", "botanical")


@dataclass(frozen=True)
class _Type:
    share: float
    r: float  # Gamma shape of lambda
    alpha: float  # Gamma rate of lambda (days): mean lambda = r / alpha purchases/day
    a: float  # Beta(a, b) of the dropout probability p
    b: float
    signup: tuple[float, float]  # sign-up window as fractions of the observation window
    basket_extra_lines: float  # lines per order = 1 + Poisson(this)
    extra_units: float  # mean of the customer's extra units per line (Gamma across customers)
    price_sensitivity: float  # product weight *= price ** -this
    return_prob: float  # probability a purchased line is returned
    affinity: dict[str, float]  # category preference (unnormalised)
    channels: tuple[float, float, float]  # web, app, store
    campaign_uplift: float  # effect of the e-mail on 14-day conversion probability


_BASE_AFFINITY = 0.5
#: The planted customer types. ``signup`` of 'new_customer' is overridden to the last 75 days.
# fmt: off
#   share, r, alpha, a, b, signup window, extra lines, extra units, price sensitivity, return prob,
#   category affinity, channel mix (web, app, store), campaign uplift
CUSTOMER_TYPES: dict[str, _Type] = {
    "loyal_high_spender": _Type(0.15, 8.0, 80.0, 2.0, 398.0, (0.0, 0.5), 7.0, 2.0, 0.0, 0.02,
                                {"home_decor": 6, "kitchen": 5, "lighting": 4}, (0.5, 0.3, 0.2), -0.04),
    "bargain_hunter": _Type(0.25, 8.0, 100.0, 2.0, 598.0, (0.0, 0.7), 1.0, 0.3, 2.0, 0.20,
                            {"stationery": 6, "kitchen": 4, "accessories": 4}, (0.6, 0.35, 0.05), 0.08),
    "occasional_gifter": _Type(0.25, 8.0, 480.0, 2.0, 398.0, (0.0, 0.6), 1.5, 0.3, -0.5, 0.03,
                               {"gifts": 6, "toys": 4, "lighting": 3}, (0.4, 0.1, 0.5), 0.03),
    "new_customer": _Type(0.15, 8.0, 200.0, 2.0, 40.0, (0.0, 0.0), 3.0, 1.0, 0.5, 0.05,
                          {"accessories": 5, "home_decor": 4, "garden": 3}, (0.5, 0.4, 0.1), 0.05),
    "lapsed": _Type(0.20, 8.0, 240.0, 16.0, 4.0, (0.0, 0.3), 2.0, 0.5, 0.5, 0.05,
                    {"garden": 6, "toys": 4, "kitchen": 3}, (0.3, 0.1, 0.6), 0.0),
}
# fmt: on
_NEW_CUSTOMER_DAYS = 75.0
#: how much larger a treated responder's basket is (the campaign's 10 % voucher): deal-seekers buy more
_CAMPAIGN_BASKET_LIFT = {"loyal_high_spender": 0.0, "bargain_hunter": 0.6, "occasional_gifter": 0.3,
                         "new_customer": 0.4, "lapsed": 0.0}
_CAMPAIGN_DAYS_BEFORE_END = 60
_CAMPAIGN_WINDOW_DAYS = 14
# fmt: off
_CHANNELS = np.array(["web", "app", "store"], dtype=object)
# (country, E.164 mobile prefix, national digits after the prefix, share)
_COUNTRIES = (("United Kingdom", "+447", 9, 0.7), ("Germany", "+4915", 9, 0.1), ("France", "+336", 8, 0.1),
              ("Netherlands", "+316", 8, 0.05), ("Ireland", "+35387", 7, 0.05))
_FIRST = ("Olivia", "Amelia", "Isla", "Ava", "Mia", "Sophie", "Grace", "Lily", "Emma", "Chloe", "Hannah",
          "Lea", "Oliver", "George", "Harry", "Noah", "Jack", "Leo", "Arthur", "Thomas", "James", "Lukas",
          "Louis", "Finn")
_LAST = ("Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Patel", "Wright",
         "Walker", "Evans", "Murphy", "Kelly", "Muller", "Schmidt", "Martin", "Bernard", "de Vries", "Jansen",
         "Byrne", "Hughes")
_DOMAINS = ("example.com", "example.org", "example.net", "mail.example")
# fmt: on
_DISCOUNT_SHARE, _DISCOUNT = 0.10, 0.20  # 10% of lines sold at 20% off
_ANON_SHARE = 0.005
_POSTAGE_SHARE, _POSTAGE_PRICE = 0.03, 4.95
