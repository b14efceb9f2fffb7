"""Recovery: Stripe webhook events and their effects, recovery cases (failed payments, expiring
cards, cancels made elsewhere), the email outbox and the emails themselves."""
