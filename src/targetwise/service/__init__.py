"""targetwise.service layer."""
