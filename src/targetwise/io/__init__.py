"""targetwise.io layer."""
