"""targetwise.campaigns layer."""
