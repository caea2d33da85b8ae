"""targetwise: open-source precision marketing.

Segments, customer lifetime value, propensity and churn, recommendations and
uplift targeting over a retailer's transactions, served as a library, a CLI, a
REST service and a web UI.

Importing ``targetwise`` is cheap: heavy modules load on first use.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
