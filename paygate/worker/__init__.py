"""The worker role: stream consumers for payments and refunds, the webhook deliverer and the scheduler."""
