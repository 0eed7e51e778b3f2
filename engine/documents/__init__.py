"""Digitised documents and results: marking, PDF signatures, reuse."""
