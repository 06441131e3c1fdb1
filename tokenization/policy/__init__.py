"""The policy decision point: may this caller see this value, for this purpose, and how?

* :mod:`.purposes` - the purpose catalogue (legal basis, consent, field types, retention),
  loaded from configuration with defaults for a bank;
* :mod:`.consent` - the one function that answers "has the subject consented?";
* :mod:`.decision` - :func:`decide`: plain, masked or deny, always with a reason.
"""

from tokenization.policy.consent import (
    ConsentCheck,
    ConsentJoin,
    ConsentVerdict,
    JoinedConsent,
    no_consent_service,
)
from tokenization.policy.decision import (
    DETOKENIZE_ROLES,
    GRANTABLE_ROLES,
    TOKENIZE_ROLES,
    Decision,
    Effect,
    Reason,
    decide,
)
from tokenization.policy.purposes import (
    DEFAULT_PURPOSES,
    LegalBasis,
    Purpose,
    PurposeCatalogue,
    load_purposes,
)

__all__ = [
    "DEFAULT_PURPOSES",
    "DETOKENIZE_ROLES",
    "GRANTABLE_ROLES",
    "TOKENIZE_ROLES",
    "ConsentCheck",
    "ConsentJoin",
    "JoinedConsent",
    "ConsentVerdict",
    "Decision",
    "Effect",
    "LegalBasis",
    "Purpose",
    "PurposeCatalogue",
    "Reason",
    "no_consent_service",
    "decide",
    "load_purposes",
]
