"""Fees and payments of dossiers: what is due, payments at the desk and online, waivers, the gate
before the result hand-over, and the payment gateway adapter (docs/payments.md)."""
