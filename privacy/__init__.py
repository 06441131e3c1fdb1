"""The privacy core: why data may be used, and whether this caller may see this value.

* :mod:`.subjects` - subjects and their states (active, restricted, erased);
* :mod:`.consent_check` - the consent verdict of (subject, purpose) from the consent
  records, one subject or every row of a query; :mod:`.holds` - retention and legal
  holds and whom they let through a restriction; :mod:`.population` - every subject's
  eligibility for a purpose at once, by the same rules;
* :mod:`.purpose_config` - the configured purpose catalogue (legal basis, consent, field
  types, retention), with defaults for a bank; :mod:`.purposes` and :mod:`.tables` keep
  it, versioned with its notices, in the database; :mod:`.catalogue` serves it cached;
  :mod:`.purpose_admin` and :mod:`.widening` change it (a widening change under four eyes);
* :mod:`.verdict` - the types of the one answer to "has the subject consented?";
* :mod:`.decision` - :func:`decide`: plain, masked or deny, always with a reason;
* :mod:`.model`, :mod:`.errors`, :mod:`.guards` - the roles, records, errors and first
  checks the consent service's use cases share.

The names below are the policy decision point's; import the rest from their modules.
"""

from privacy.decision import (
    DETOKENIZE_ROLES,
    GRANTABLE_ROLES,
    TOKENIZE_ROLES,
    Decision,
    Effect,
    Reason,
    decide,
)
from privacy.purpose_config import (
    DEFAULT_PURPOSES,
    LegalBasis,
    Purpose,
    PurposeCatalogue,
    load_purposes,
)
from privacy.verdict import (
    ConsentVerdict,
    JoinedConsent,
)

__all__ = [
    "DEFAULT_PURPOSES",
    "DETOKENIZE_ROLES",
    "GRANTABLE_ROLES",
    "TOKENIZE_ROLES",
    "JoinedConsent",
    "ConsentVerdict",
    "Decision",
    "Effect",
    "LegalBasis",
    "Purpose",
    "PurposeCatalogue",
    "Reason",
    "decide",
    "load_purposes",
]
