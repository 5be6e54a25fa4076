#!/usr/bin/python3
# SPDX-License-Identifier: BSD-2-Clause
"""Make a JWKS and test tokens with python3-jwcrypto, an implementation
independent of limen's, for tests/unit/test_jwt.c.

    jwt_tokens.py DIR NOW

writes DIR/jwks.json (public keys only) and DIR/tokens.txt, one
"NAME EXPECTED TOKEN" line per case, EXPECTED being the jwt_result name
limen must return (leeway 30 s, issuer https://id.example.com, audience
api).  Some hostile tokens are put together by hand because jwcrypto
refuses to make them (alg none, duplicate claims, HS256 keyed with the
RSA public key).
"""
import base64
import json
import sys

from jwcrypto import jwk, jws, jwt

out, now = sys.argv[1], int(sys.argv[2])
ISS, AUD = "https://id.example.com", "api"


def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


rsa = jwk.JWK.generate(kty="RSA", size=2048, kid="rsa1")
rsa_other = jwk.JWK.generate(kty="RSA", size=2048, kid="rsa1")
ec = jwk.JWK.generate(kty="EC", crv="P-256", kid="ec1")
ec384 = jwk.JWK.generate(kty="EC", crv="P-384", kid="ec384")
ed = jwk.JWK.generate(kty="OKP", crv="Ed25519", kid="ed1")
enc = jwk.JWK.generate(kty="RSA", size=2048, kid="enc1")

keys = [json.loads(k.export_public()) for k in (rsa, ec, ec384, ed)]
e = json.loads(enc.export_public())
e["use"] = "enc"
keys.append(e)
with open(f"{out}/jwks.json", "w") as f:
    json.dump({"keys": keys}, f)


def claims(**over):
    c = {"sub": "alice", "iss": ISS, "aud": AUD, "iat": now,
         "exp": now + 3600, "uid": 42, "score": 1.5,
         "evil": "bob\r\nX-Admin: 1", "flag": True}
    c.update(over)
    return {k: v for k, v in c.items() if v is not None}


def signed(key, alg, kid=True, **over):
    hdr = {"alg": alg, "typ": "JWT"}
    if kid:
        hdr["kid"] = key["kid"]
    t = jwt.JWT(header=hdr, claims=claims(**over))
    t.make_signed_token(key)
    return t.serialize()


def raw(header, payload, key=None, alg=None, sig=b""):
    """A compact JWS from exact bytes (payload may be any JSON text)."""
    h = b64(json.dumps(header).encode())
    p = b64(payload.encode())
    if key is not None:
        s = jws.JWS(payload.encode())
        s.add_signature(key, alg=alg, protected=json.dumps(header))
        return s.serialize(compact=True)
    return f"{h}.{p}.{b64(sig)}"


cases = []
add = lambda name, exp, tok: cases.append((name, exp, tok))

add("rs256_valid", "JWT_OK", signed(rsa, "RS256"))
add("rs512_valid", "JWT_OK", signed(rsa, "RS512"))
add("ps256_valid", "JWT_OK", signed(rsa, "PS256"))
add("es256_valid", "JWT_OK", signed(ec, "ES256"))
add("es384_valid", "JWT_OK", signed(ec384, "ES384"))
add("eddsa_valid", "JWT_OK", signed(ed, "EdDSA"))
add("es256_no_kid", "JWT_OK", signed(ec, "ES256", kid=False))
add("aud_array", "JWT_OK", signed(rsa, "RS256", aud=["other", AUD]))
add("exp_in_leeway", "JWT_OK", signed(rsa, "RS256", exp=now - 10))
add("nbf_in_leeway", "JWT_OK", signed(rsa, "RS256", nbf=now + 10))
add("expired", "JWT_EXPIRED", signed(rsa, "RS256", exp=now - 3600))
add("no_exp", "JWT_EXPIRED", signed(rsa, "RS256", exp=None))
add("not_yet_valid", "JWT_NOT_YET_VALID",
    signed(ec, "ES256", nbf=now + 3600))
add("wrong_audience", "JWT_BAD_AUDIENCE", signed(rsa, "RS256", aud="web"))
add("wrong_aud_array", "JWT_BAD_AUDIENCE",
    signed(rsa, "RS256", aud=["web", "apix"]))
add("wrong_issuer", "JWT_BAD_ISSUER",
    signed(ed, "EdDSA", iss="https://evil.example.com"))
add("no_issuer", "JWT_BAD_ISSUER", signed(ed, "EdDSA", iss=None))
add("wrong_key", "JWT_BAD_SIGNATURE", signed(rsa_other, "RS256"))
add("unknown_kid", "JWT_NO_KEY",
    signed(jwk.JWK.generate(kty="EC", crv="P-256", kid="nope"), "ES256"))
add("enc_key_not_for_sig", "JWT_NO_KEY", signed(enc, "RS256"))

# alg none, in a few spellings
body = json.dumps(claims())
add("alg_none", "JWT_BAD_ALG", raw({"alg": "none", "typ": "JWT"}, body))
add("alg_None", "JWT_BAD_ALG", raw({"alg": "None"}, body))
add("alg_none_kid", "JWT_BAD_ALG",
    raw({"alg": "none", "kid": "rsa1"}, body, sig=b"x"))

# HS256 keyed with the RSA public key (PEM and JWK forms) as the secret
pem = rsa.export_to_pem()
for n, secret in (("pem", pem), ("jwk", rsa.export_public().encode())):
    hk = jwk.JWK(kty="oct", k=b64(secret))
    add(f"hs256_public_key_{n}", "JWT_BAD_ALG",
        raw({"alg": "HS256", "kid": "rsa1"}, body, key=hk, alg="HS256"))

# algorithm confusion between asymmetric types: the header's alg must fit
# the key's type
add("rs256_header_ec_kid", "JWT_NO_KEY",
    raw({"alg": "RS256", "kid": "ec1"}, body, key=rsa, alg="RS256"))
add("es256_header_rsa_kid", "JWT_NO_KEY",
    raw({"alg": "ES256", "kid": "rsa1"}, body, key=ec, alg="ES256"))

# tampering
good = signed(rsa, "RS256").split(".")
evil = b64(json.dumps(claims(sub="admin")).encode())
add("tampered_payload", "JWT_BAD_SIGNATURE", f"{good[0]}.{evil}.{good[2]}")
sig = bytearray(base64.urlsafe_b64decode(good[2] + "=="))
sig[10] ^= 1
add("tampered_signature", "JWT_BAD_SIGNATURE",
    f"{good[0]}.{good[1]}.{b64(bytes(sig))}")
add("padded_b64", "JWT_MALFORMED", f"{good[0]}.{good[1]}.{good[2]}=")
add("two_parts", "JWT_MALFORMED", f"{good[0]}.{good[1]}")
add("four_parts", "JWT_MALFORMED", ".".join(good + ["x"]))
add("crit_header", "JWT_BAD_ALG",
    raw({"alg": "ES256", "kid": "ec1", "crit": ["b64"], "b64": True},
        body, key=ec, alg="ES256"))

# a correctly signed payload with a duplicate member
dup = '{"sub":"alice","sub":"admin","iss":"%s","aud":"%s","exp":%d}' % (
    ISS, AUD, now + 3600)
add("duplicate_claims", "JWT_MALFORMED",
    raw({"alg": "ES256", "kid": "ec1"}, dup, key=ec, alg="ES256"))
# ES256 signature as DER instead of raw r||s
es = signed(ec, "ES256").split(".")
r = base64.urlsafe_b64decode(es[2] + "==")


def der_int(b):
    b = b.lstrip(b"\0") or b"\0"
    if b[0] & 0x80:
        b = b"\0" + b
    return b"\x02" + bytes([len(b)]) + b


d = der_int(r[:32]) + der_int(r[32:])
add("es256_der_signature", "JWT_BAD_SIGNATURE",
    f"{es[0]}.{es[1]}.{b64(b'0' + bytes([len(d)]) + d)}")

with open(f"{out}/tokens.txt", "w") as f:
    for name, exp, tok in cases:
        f.write(f"{name} {exp} {tok}\n")

# key sets limen must refuse
with open(f"{out}/jwks_private.json", "w") as f:
    f.write('{"keys": [%s]}' % ec.export_private())
small = jwk.JWK.generate(kty="RSA", size=1024, kid="small")
with open(f"{out}/jwks_rsa1024.json", "w") as f:
    f.write('{"keys": [%s]}' % small.export_public())
