"""VK's connection check: ``groups.getById`` with the community token."""

from __future__ import annotations

import httpx

from inbox.channels.checks import CheckFailed, json_body
from inbox.i18n import _
from inbox.models import ChannelAccount


async def check(http: httpx.AsyncClient, account: ChannelAccount) -> str:
    token = str(account.secrets.get("token") or "")
    if not token:
        raise CheckFailed(_("no community token (secrets.token)"))
    base = str(account.settings.get("api_base") or "https://api.vk.com").rstrip("/")
    url = base + ("/" if base.endswith("/method") else "/method/") + "groups.getById"
    version = str(account.settings.get("api_version") or "5.199")
    params: dict[str, str] = {"access_token": token, "v": version}
    if account.settings.get("group_id"):
        params["group_id"] = str(account.settings["group_id"])
    body = json_body(await http.post(url, data=params))
    if "error" in body:
        err = body["error"]
        raise CheckFailed(
            _("VK error {code}: {text}").format(code=err.get("error_code"), text=err.get("error_msg"))
        )
    response = body.get("response")
    groups = response.get("groups") if isinstance(response, dict) else response
    if not groups:
        raise CheckFailed(_("VK answered without a community"))
    group = groups[0]
    return _("VK community {name} (id {id})").format(name=group.get("name"), id=group.get("id"))
