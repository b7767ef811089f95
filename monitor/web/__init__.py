"""The operator's view: status page, JSON API, /metrics, /healthz and /readyz.

The daemon implements :class:`StatusProvider` (views in :mod:`monitor.web.view`) and
serves :func:`build_web_app` with :func:`start_web`; metrics live in :mod:`monitor.metrics`.
"""

from monitor.web.app import build_web_app, start_web
from monitor.web.page import PageOptions
from monitor.web.provider import (
    StaticStatusProvider,
    StatusProvider,
    device_console_link,
)
from monitor.web.view import AlertView, DeadLetterView, SilenceView, SourceView, SweepView

__all__ = [
    "AlertView",
    "DeadLetterView",
    "PageOptions",
    "SilenceView",
    "SourceView",
    "StaticStatusProvider",
    "StatusProvider",
    "SweepView",
    "build_web_app",
    "device_console_link",
    "start_web",
]
