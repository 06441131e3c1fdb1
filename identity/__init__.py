"""Identity: who is calling. API clients and their keys (:mod:`identity.clients`), console
users, their sessions and sign-in lock-out (:mod:`identity.users`), and the person behind a
credential (:mod:`identity.person`).

Below :mod:`access`: separation of duties asks who a caller is (and approves identities
that approve, :mod:`access.identity`); identity never asks access, it is given the answer
as a callable. Nothing here imports Flask; the HTTP side is :mod:`api.clients`, :mod:`api.auth`
and the console's views. Importing this package loads nothing (the CLI's start-up stays short).
"""
