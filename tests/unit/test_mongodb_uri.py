"""``MONGODB_URI``: a malformed URI, a ``mongodb+srv://`` URI whose host
does not resolve (``.invalid`` never does, RFC 6761), and the database a
``+srv`` URI names."""

import time

import pytest

from infra.mongo import connect
from infra.settings import ConfigurationError, Settings

REDIS = {"REDIS_URL": "redis://h"}
UNRESOLVABLE = "mongodb+srv://shop:s3cret@cluster0.example.invalid/orders?retryWrites=true&w=majority"


def test_a_srv_uri_names_its_database_and_is_read_without_a_dns_lookup():
    started = time.monotonic()
    settings = Settings.from_env({"MONGODB_URI": UNRESOLVABLE, **REDIS})
    # Its host does not resolve: reading it did not try.
    assert settings.mongodb_database == "orders"
    assert time.monotonic() - started < 1
    bare = Settings.from_env({"MONGODB_URI": "mongodb+srv://cluster0.example.invalid/?w=majority", **REDIS})
    assert bare.mongodb_database == "shop"
    named = {"MONGODB_URI": UNRESOLVABLE, "MONGODB_DATABASE": "other", **REDIS}
    assert Settings.from_env(named).mongodb_database == "other"


@pytest.mark.parametrize(
    "uri",
    [
        "http://cluster0.example.net/shop",
        "mongodb+srv://cluster0.example.net:27017/shop",
        "mongodb+srv://a.example.net,b.example.net/shop",
        "mongodb://h/shop?w=-1",
        "mongodb://h/sh op",
    ],
)
def test_a_malformed_uri_is_said_to_be_malformed(uri):
    for env in ({"MONGODB_URI": uri}, {"MONGODB_URI": uri, "MONGODB_DATABASE": "shop"}):
        with pytest.raises(ConfigurationError, match="^MONGODB_URI is not a MongoDB URI: "):
            Settings.from_env({**env, **REDIS})


def test_a_srv_host_that_does_not_resolve_is_said_to_be_a_dns_failure():
    settings = Settings.from_env({"MONGODB_URI": UNRESOLVABLE, **REDIS})
    with pytest.raises(ConfigurationError) as refused:
        # A short lookup: with no DNS server at all the answer is a timeout, still a DNS failure.
        connect(settings, appname="tests", connectTimeoutMS=2000)
    message = str(refused.value)
    assert message.startswith("MONGODB_URI: cannot resolve the SRV record for cluster0.example.invalid: ")
    assert "s3cret" not in message
