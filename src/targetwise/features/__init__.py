"""targetwise.features layer."""
