"""Talking to MDM APIs: the one aiohttp client seam and one module per vendor.

- :mod:`monitor.sources.budget`: the per-tenant request budget (hour, second, in flight);
- :mod:`monitor.sources.http`: :class:`ApiClient`, the only code that uses aiohttp to
  call an MDM (timeouts, retries, ``Retry-After``, paging, error translation);
- :mod:`monitor.sources.kandji_models`: tolerant pydantic models of Kandji responses;
- :mod:`monitor.sources.kandji`: :class:`KandjiClient` and the mapping of Kandji
  models to :class:`monitor.models.Device` and :class:`monitor.models.Subject`.
"""

from monitor.sources.budget import BudgetSnapshot, RequestBudget
from monitor.sources.http import ApiClient, Page, RequestHook, RequestStats
from monitor.sources.kandji import (
    KandjiClient,
    app_subject,
    library_item_status_row_subject,
    library_item_subject,
    parameter_subject,
    to_device,
)

__all__ = [
    "ApiClient",
    "BudgetSnapshot",
    "KandjiClient",
    "Page",
    "RequestBudget",
    "RequestHook",
    "RequestStats",
    "app_subject",
    "library_item_status_row_subject",
    "library_item_subject",
    "parameter_subject",
    "to_device",
]
