# SPDX-License-Identifier: BSD-2-Clause
"""limen's JWS checked by an independent implementation (python3-jwcrypto).

Every signed request `limen certs` sends on its way to a certificate is
captured in front of pebble (peers/acme_directory_ext.py) and verified
with jwcrypto: the signature, the protected header (RFC 8555 §6.2: alg,
nonce, url; jwk for newAccount only, kid afterwards) and the account key's
RFC 7638 thumbprint against the key limen stored.
"""
import json

import pytest
from jwcrypto import jwk, jws

from peers.acme_env import AcmeEnv


@pytest.fixture
def acme(tmp_path):
    env = AcmeEnv(tmp_path)
    yield env
    env.stop()


def test_every_request_verifies_with_jwcrypto(acme):
    acme.start_pebble()
    ext = acme.start_ext()
    r = acme.certs(names=["jws.example.com"])
    assert r.returncode == 0, r.stdout + r.stderr

    posts = ext.posts
    assert posts and all("error" not in p for p in posts), posts
    # pebble rejects some nonces at random (badNonce): take the answered one
    new_account = [p for p in posts if p["path"] == "/sign-me-up" and
                   p["status"] in (200, 201)]
    assert new_account, [(p["path"], p["status"]) for p in posts]
    hdr = new_account[0]["protected"]
    assert hdr["alg"] == "ES256"
    assert "kid" not in hdr
    assert set(hdr["jwk"]) == {"kty", "crv", "x", "y"}
    account = jwk.JWK(**hdr["jwk"])
    kid = new_account[0]["location"]
    assert kid and kid.startswith(ext.base)

    # the key on disk is the key that signed
    with open(acme.state / "acme" / "account.key", "rb") as f:
        stored = jwk.JWK.from_pem(f.read())
    assert stored.thumbprint() == account.thumbprint()

    nonces = set()
    for p in posts:
        h = p["protected"]
        assert h["url"] == p["url"]
        assert h["alg"] == "ES256"
        assert h["nonce"] and h["nonce"] not in nonces
        nonces.add(h["nonce"])
        if p["path"] == "/sign-me-up":
            assert "kid" not in h and h["jwk"] == hdr["jwk"]
        else:
            assert "jwk" not in h and h["kid"] == kid
        obj = jws.JWS()
        obj.deserialize(json.dumps(p["jws"]))
        obj.verify(account)     # raises on a bad signature
        # POST-as-GET carries the empty payload, not "{}" or "null"
        if p["payload"] is None:
            assert p["jws"]["payload"] == ""

    # a tampered payload must not verify (the check above is not vacuous)
    bad = dict(posts[-1]["jws"])
    bad["payload"] = "e30"
    obj = jws.JWS()
    obj.deserialize(json.dumps(bad))
    try:
        obj.verify(account)
        raise AssertionError("tampered JWS verified")
    except jws.InvalidJWSSignature:
        pass
