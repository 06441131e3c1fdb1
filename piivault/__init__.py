"""piivault: privacy data vault and consent service.

This small package holds what every layer shares: settings, the database
engine and unit of work, the error hierarchy, and the CLI/composition root.
Domain logic lives in ``vault/``, ``audit/``, ``tokenization/``, ``consent/``
and ``anonymize/``; HTTP lives in ``api/``.
"""

__version__ = "0.1.0"
