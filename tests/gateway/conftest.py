from gateway_helpers import (  # noqa: F401  (pytest fixtures)
    browser,
    contacts,
    fake,
    gateway,
    settings,
    users_template,
)
from support.sim_core import sim  # noqa: F401  (pytest fixture: the ARI simulator)
