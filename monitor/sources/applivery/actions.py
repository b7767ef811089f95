"""Applivery actions: ask a Windows PC for a selective information refresh.

``applivery.refresh_info`` sends::

    POST /organizations/{organizationId}/mdm/windows/enterprise/devices/{winDeviceId}/info
    {"info": ["hardware", "applications", "certificates"]}

and succeeds when the answer is ``{"status": true, "data": {"status": true}}`` (the
inner ``status`` says the request reached the device). Both path parameters are
checked against the patterns the reference gives before anything is sent.

Params: ``info``, a category name or a list of them (default: the three the reference
shows). The full list of categories is not documented, so other word-like names are
passed through.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from monitor.actions.base import (
    ActionClient,
    ActionRequest,
    ActionStatus,
    Outcome,
    unknown_params,
)
from monitor.sources.applivery.client import (
    AppliveryClient,
    valid_organization_id,
    valid_win_device_id,
)
from monitor.sources.applivery.config import SOURCE_KIND
from monitor.sources.applivery.models import INFO_CATEGORIES

_CATEGORY_RE = re.compile(r"[A-Za-z][A-Za-z0-9_\-]*", re.ASCII)


def info_categories(params: Mapping[str, Any]) -> list[str]:
    """The ``info`` categories of ``params`` (the documented three when not given)."""
    raw = params.get("info", list(INFO_CATEGORIES))
    items = [raw] if isinstance(raw, str) else list(raw) if isinstance(raw, list) else []
    return list(dict.fromkeys(str(c) for c in items))


class AppliveryRefreshInfo:
    """``applivery.refresh_info``: a selective device information refresh."""

    type = "applivery.refresh_info"
    source_kind = SOURCE_KIND

    def check(self, params: Mapping[str, Any]) -> str | None:
        """Only ``info``: a non-empty category name or list of them."""
        if (problem := unknown_params(params, "info")) is not None:
            return problem
        raw = params.get("info", list(INFO_CATEGORIES))
        if not isinstance(raw, str | list):
            return "info must be a category name or a list of them"
        items = [raw] if isinstance(raw, str) else raw
        if not items:
            return "info needs at least one category"
        for c in items:
            if not isinstance(c, str) or _CATEGORY_RE.fullmatch(c) is None:
                return f"info: {c!r} is not a category name"
        return None

    def refusal(self, request: ActionRequest, client: ActionClient) -> str | None:
        """Refuse a client of another kind, or ids the API's patterns reject."""
        if not isinstance(client, AppliveryClient):
            return f"source {request.source!r} is not an Applivery organization"
        if not valid_organization_id(client.organization):
            return f"organizationId {client.organization!r} does not match its pattern"
        if not valid_win_device_id(request.device_id):
            return f"winDeviceId {request.device_id!r} does not match its pattern"
        return None

    def describe(self, request: ActionRequest, client: ActionClient) -> str:
        """The request that would be sent."""
        org = client.organization if isinstance(client, AppliveryClient) else "?"
        body = json.dumps({"info": info_categories(request.params)})
        return (
            f"POST /organizations/{org}/mdm/windows/enterprise/devices/"
            f"{request.device_id}/info {body}"
        )

    async def execute(self, request: ActionRequest, client: ActionClient) -> Outcome:
        """Send the refresh; done only when the answer says it reached the device."""
        assert isinstance(client, AppliveryClient)
        categories = info_categories(request.params)
        answer = await client.request_info_refresh(request.device_id, categories)
        asked = ", ".join(categories)
        if answer.status is True:
            return Outcome(ActionStatus.DONE, f"refresh of {asked} sent to the device")
        if answer.status is False:
            return Outcome(
                ActionStatus.FAILED,
                f"Applivery accepted the refresh of {asked} but did not send it to the "
                "device (data.status false)",
            )
        return Outcome(
            ActionStatus.FAILED,
            f"the answer to the refresh of {asked} does not say whether it reached the "
            "device (no data.status)",
        )


__all__ = ["AppliveryRefreshInfo", "info_categories"]
