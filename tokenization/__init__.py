"""Tokenization: tokens that stand in for values of personal data.

* ``tokens``, ``fpe`` - what tokens look like (random, deterministic, format-preserving);
* ``tokenize``, ``detokenize`` - the two use cases, batched and audited;
* ``subjects``, ``idempotency``, ``tables`` - their storage;
* ``service`` - :class:`~tokenization.service.TokenizationService`, what ``api/`` calls.

What a value of each kind is comes from :mod:`fieldtypes`; whether a caller may see
it, from the policy decision point in :mod:`privacy`. Nothing here imports Flask or
calls a crypto primitive: sealing, keyed hashes and data keys come from :mod:`vault`.
"""
