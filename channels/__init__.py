"""Providers: the Channel contract and one class per provider (email over SMTP for now)."""
