"""Language-model clients, prices and PII redaction for the text sent to them."""
