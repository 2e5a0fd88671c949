"""A logging filter that masks credentials in the records of the ARI client libraries.

aioswagger11 logs every request's parameters at DEBUG, the events socket's `api_key`
(user:password) included; we cannot change its lines, so its loggers get this filter,
which rewrites each record's message through `core.redact.redact` before any handler
formats it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from core.redact import redact

# The third-party loggers that see ARI URLs, parameters or credentials.
ARI_CLIENT_LOGGERS = ("aioswagger11.client", "aioswagger11.http_client", "aioari.client",
                      "aioari.model", "aiohttp.client", "aiohttp.websocket")


class RedactingFilter(logging.Filter):
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = tuple(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it to logging's own error path
            return True
        record.msg = redact(message, self.secrets)
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info),
                                     self.secrets)
            record.exc_info = None
        return True


def install(secrets: Iterable[str] = (), loggers: Iterable[str] = ARI_CLIENT_LOGGERS) -> None:
    """Add (once per logger) a filter masking the patterns and these secret values."""
    wanted = tuple(secrets)
    for name in loggers:
        logger = logging.getLogger(name)
        for existing in logger.filters:
            if isinstance(existing, RedactingFilter):
                existing.secrets = tuple(dict.fromkeys(existing.secrets + wanted))
                break
        else:
            logger.addFilter(RedactingFilter(wanted))
