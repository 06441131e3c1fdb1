"""What a console user may be, without SQL: the roles and the console's languages.

The command line's options and the console's forms offer these choices; importing
them loads no database layer (``piivault users --help`` starts without it, issue 13).
"""

from __future__ import annotations

ROLES = ("dpo", "auditor", "admin")
LANGUAGES = ("zh", "en")
