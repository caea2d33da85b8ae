"""targetwise.reports layer."""
