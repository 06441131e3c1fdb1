"""The console's pages, one module per area; each registers its routes on :data:`api.console.web.blp`."""

from api.console.views import (  # noqa: F401
    approvals,
    audit,
    auth,
    dashboard,
    dsr,
    purposes,
    subjects,
    users,
)
