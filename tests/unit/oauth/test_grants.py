"""The grants' own mechanics, without an app."""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest
from authlib.oauth2.rfc6749 import OAuth2Request

from broker.oauth.grants import AuthorizationCodeGrant, RefreshTokenGrant


@pytest.mark.parametrize("grant_class", [AuthorizationCodeGrant, RefreshTokenGrant])
def test_hooks_run_in_the_order_they_were_registered(grant_class):
    grant = grant_class(OAuth2Request("POST", "https://as.example/token"), server=None)
    ran: list[int] = []

    def hook(number: int, grant: Any, result: Any) -> None:
        ran.append(number)

    hooks = [partial(hook, number) for number in range(20)]
    for registered in (*hooks, hooks[3]):  # registering one again changes nothing
        grant.register_hook("after_validate_token_request", registered)
    grant.execute_hook("after_validate_token_request", None)
    assert ran == list(range(20))
