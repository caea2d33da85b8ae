"""targetwise.models layer."""
