"""Domain services: every rule, permission and tenant check of the product lives here."""
