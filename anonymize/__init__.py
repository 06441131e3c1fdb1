"""Anonymization: PII detection in free text (:mod:`anonymize.text`) and anonymized extracts."""
