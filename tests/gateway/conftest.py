from gateway_helpers import (  # noqa: F401  (pytest fixtures)
    browser,
    contacts,
    fake,
    gateway,
    settings,
    users_template,
)
