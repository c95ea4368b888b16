"""The bound every score change and every score keeps to, in each service.

Customers stores scores in a 4-byte integer on PostgreSQL; a change asked of
it (AdjustScore, a bulk adjustment, a rule's adjust_score action) is at most
SCORE_LIMIT either way, and a score that a change would take further stops at
±SCORE_LIMIT. Rules refuses a rule whose action asks for more, when it is
saved, rather than have the action fail each time the rule fires.
"""

SCORE_LIMIT = 1_000_000_000
