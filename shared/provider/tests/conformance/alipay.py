"""Alipay OpenAPI formats computed by python-alipay-sdk (PyPI `alipay`, pinned in
infra/conformance.sh), for tests/alipay_sdk.rs.

Reads one JSON case on stdin, prints one JSON result on stdout. Only the SDK's
offline functions are used: no case makes a network call.

Cases ("op" and its fields; keys and certificates are PEM text):
  sign_data      app_id, private_key, public_key, params (every parameter but
                 `sign`, biz_content as the exact JSON string we send)
                 -> {"sign": the `sign` of AliPay(...).sign_data(params)}
  dc_sign_data   app_id, private_key, app_cert, alipay_cert, root_cert, method,
                 biz_content, notify_url, timestamp -> {"params": DCAliPay(...)
                 .build_body(...) with our timestamp and format, "sign": its sign}
  sign_answer    app_id, private_key, public_key, response_key, inner, alipay_cert_sn?
                 -> {"raw": '{"<response_key>":' + inner + [',"alipay_cert_sn":"<sn>"']
                 + ',"sign":"<_sign(inner)>"}'}
  verify_answer  app_id, private_key, public_key, raw, response_key
                 -> {"verified": bool, "response": the SDK's parsed response or None}
  verify_request app_id, private_key, public_key (the app's), params (a request's
                 decoded form, `sign` included) -> {"verified": the SDK's _verify of
                 `sign` over its own sorted k=v text of every other parameter}
  verify_notice  app_id, private_key, public_key, params (decoded form, `sign` included)
                 -> {"verified": AliPay(...).verify(params without sign, sign)}
  cert_sn        pem -> {"sn": DCAliPay.get_cert_sn(pem)}
  root_cert_sn   pem -> {"sn": DCAliPay.get_root_cert_sn(pem)}
  make_certs     alipay_public_key, app_public_key? -> fresh test certificates made
                 with `cryptography` (a CA, an app certificate for app_public_key or a
                 fresh key, Alipay's certificate for its key, an ECDSA-signed CA)
                 {"ca", "app_cert", "alipay_cert", "ec_ca"}
"""

import datetime
import json
import os
import sys
from urllib.parse import parse_qsl

# This file is named alipay.py too: drop its own directory from the path so
# `import alipay` finds the SDK, not this driver.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]

from alipay import AliPay, DCAliPay  # noqa: E402
from alipay.exceptions import AliPayException, AliPayValidationError
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID


def alipay(case):
    return AliPay(
        case["app_id"],
        app_private_key_string=case["private_key"],
        alipay_public_key_string=case["public_key"],
    )


def sign_of(signed_string):
    return dict(parse_qsl(signed_string, keep_blank_values=True))["sign"]


def sign_data(case):
    return {"sign": sign_of(alipay(case).sign_data(dict(case["params"])))}


def dc_sign_data(case):
    dc = DCAliPay(
        case["app_id"],
        app_private_key_string=case["private_key"],
        app_public_key_cert_string=case["app_cert"],
        alipay_public_key_cert_string=case["alipay_cert"],
        alipay_root_cert_string=case["root_cert"],
    )
    params = dc.build_body(case["method"], case["biz_content"], notify_url=case["notify_url"])
    # build_body reads the clock and sends no `format`: use the case's values.
    params["timestamp"] = case["timestamp"]
    params["format"] = "JSON"
    return {"params": dict(params), "sign": sign_of(dc.sign_data(dict(params)))}


def sign_answer(case):
    inner = case["inner"]
    sign = alipay(case)._sign(inner)
    cert_sn = case.get("alipay_cert_sn")
    cert_sn = ',"alipay_cert_sn":"' + cert_sn + '"' if cert_sn else ""
    return {"raw": '{"' + case["response_key"] + '":' + inner + cert_sn + ',"sign":"' + sign + '"}'}


def verify_request(case):
    # The SDK's verify() drops sign_type, which requests sign: build the text
    # with its own ordering and check it with its own _verify.
    params = dict(case["params"])
    sign = params.pop("sign")
    ali = alipay(case)
    message = "&".join("{}={}".format(k, v) for k, v in ali._ordered_data(params))
    return {"verified": bool(ali._verify(message, sign))}


def verify_answer(case):
    try:
        response = alipay(case)._verify_and_return_sync_response(case["raw"], case["response_key"])
    except (AliPayException, AliPayValidationError) as error:
        return {"verified": False, "response": None, "error": type(error).__name__}
    return {"verified": True, "response": response}


def verify_notice(case):
    params = dict(case["params"])
    sign = params.pop("sign")
    return {"verified": bool(alipay(case).verify(params, sign))}


def cert_sn(case):
    return {"sn": DCAliPay.get_cert_sn(case["pem"])}


def root_cert_sn(case):
    return {"sn": DCAliPay.get_root_cert_sn(case["pem"])}


def name(cn):
    return x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Ant Financial"),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "Certification Authority"),
        x509.NameAttribute(NameOID.COMMON_NAME, cn),
    ])


def certificate(subject, issuer, public_key, signing_key, algorithm):
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=365))
        .sign(signing_key, algorithm)
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def make_certs(case):
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca = name("Ant Financial Certification Authority R1")
    if case.get("app_public_key"):
        app_public = serialization.load_pem_public_key(case["app_public_key"].encode())
    else:
        app_public = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    alipay_key = serialization.load_pem_public_key(case["alipay_public_key"].encode())
    ec_key = ec.generate_private_key(ec.SECP256R1())
    ec_name = name("Ant Financial Certification Authority E1")
    return {
        "ca": certificate(ca, ca, ca_key.public_key(), ca_key, hashes.SHA256()),
        "app_cert": certificate(name("2088000000000000-2021000117600001"), name("Ant Financial Certification Authority Class 1 R1"), app_public, ca_key, hashes.SHA256()),
        "alipay_cert": certificate(name("Alipay"), name("Ant Financial Certification Authority Class 2 R1"), alipay_key, ca_key, hashes.SHA256()),
        "ec_ca": certificate(ec_name, ec_name, ec_key.public_key(), ec_key, hashes.SHA256()),
    }


OPS = {
    "sign_data": sign_data,
    "dc_sign_data": dc_sign_data,
    "sign_answer": sign_answer,
    "verify_answer": verify_answer,
    "verify_request": verify_request,
    "verify_notice": verify_notice,
    "cert_sn": cert_sn,
    "root_cert_sn": root_cert_sn,
    "make_certs": make_certs,
}


def main():
    case = json.loads(sys.stdin.buffer.read().decode("utf-8"))
    result = OPS[case["op"]](case)
    sys.stdout.write(json.dumps(result, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
