"""Connections to systems outside the province's one-stop engine."""
