"""Tokenization: field types, and tokens that stand in for their values.

* ``fieldtypes/`` - what a value of each kind is (normalize, validate, mask, classify);
* ``tokens``, ``fpe`` - what tokens look like (random, deterministic, format-preserving);
* ``policy/`` - purposes, the consent check and the policy decision point;
* ``tokenize``, ``detokenize`` - the two use cases, batched and audited;
* ``subjects``, ``idempotency``, ``store``, ``tables`` - their storage;
* ``service`` - :class:`~tokenization.service.TokenizationService`, what ``api/`` calls.

Nothing here imports Flask or calls a crypto primitive: sealing, keyed hashes
and data keys come from :mod:`vault`.
"""
