"""Console users: accounts (:mod:`.users`), server-side sessions (:mod:`.sessions`), sign-in
lock-out (:mod:`.lockout`), passwords (:mod:`.passwords`, argon2id through :mod:`vault`), their
errors and tables (migration ``0006_console``; the table names are unchanged).
"""
