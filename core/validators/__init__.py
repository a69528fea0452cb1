"""Validators for identifiers people type: phone numbers, national ids, IBANs and card numbers."""
