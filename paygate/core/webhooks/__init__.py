"""Outgoing webhooks: what to send (signing), where it may go (ssrf), when to try again (policy)."""
