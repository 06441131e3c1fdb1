"""Counters of failures and refusals kept in the database, so every worker sees the same ones.

* :mod:`.counters` - the mechanism: a counter per key within a window, a lock once it
  reaches a limit (the console's sign-in lock-out uses it with its own table);
* :mod:`.answers` - the budget of ``not_found``/``denied`` answers each API client and
  console user gets per window, against enumeration (guessing tokens or values).
"""

from throttle.answers import AnswerBudget, AnswerBudgetExhausted, refusal_counts
from throttle.counters import Policy

__all__ = ["AnswerBudget", "AnswerBudgetExhausted", "Policy", "refusal_counts"]
