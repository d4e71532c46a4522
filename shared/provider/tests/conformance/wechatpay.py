"""WeChat Pay API v3 formats computed by the wechatpayv3 SDK (PyPI, pinned in
infra/conformance.sh), for tests/wechatpay_sdk.rs.

Reads one JSON case on stdin, prints one JSON result on stdout. Only the SDK's
offline functions are used: no case makes a network call (WeChatPay and Core
are built with public_key/public_key_id, which skips the certificate download).

Cases ("op" and its fields; keys are PEM text):
  authorization   private_key, mchid, serial, method, path, body, timestamp, nonce
                  -> {"authorization": utils.build_authorization(...) at `timestamp`}
  pay_sign        private_key, mchid, serial, app_id, timestamp, nonce, package,
                  public_key, public_key_id -> {"pay_sign": WeChatPay(...).sign([...])}
  rsa_decrypt     private_key, ciphertext -> {"plaintext": utils.rsa_decrypt(...)}
  rsa_sign        private_key, message -> {"signature": utils.rsa_sign(...)}
  verify_signature private_key, mchid, serial, public_key, public_key_id, headers, body
                  -> {"verified": Core(...)._verify_signature(headers, body)}
  callback        private_key, mchid, serial, public_key, public_key_id, apiv3_key,
                  headers, body -> {"notice": Core(...).callback(headers, body)}: the
                  SDK's signature check and AES-GCM decryption of a whole notice
  aes_decrypt     apiv3_key, nonce, ciphertext, associated_data
                  -> {"plaintext": utils.aes_decrypt(...)}
  aes_encrypt     apiv3_key, nonce, plaintext, associated_data -> {"ciphertext":
                  base64 of AESGCM(key).encrypt(...)}: `cryptography`'s AES-GCM (the
                  SDK has no encrypt), an implementation independent of ours
  bills           private_key, mchid, serial, public_key, public_key_id, bill_date,
                  timestamp, nonces, answers -> {"requests": [{"url", "authorization"}],
                  "trade", "fundflow": the apply answers, "unpacked": the file the SDK
                  downloaded, gunzipped, "sha1": its hashlib SHA-1}: the SDK's
                  trade_bill, download_bill(download_url) and fundflow_bill against
                  the scripted `answers` ({status, headers, body or body_b64}), at
                  `timestamp` (or one of `timestamps` per request) with our `nonces`,
                  on `gateway` if given (the SDK's base URL); the SDK verifies both
                  apply answers
  bill_file       text -> {"gzip_b64": gzip.compress(text), "sha1": SHA-1 of text}
  certificate     private_key, serial_hex -> {"pem": a self-signed X.509 certificate of
                  that key with that serial, valid now}, made with `cryptography`
"""

import base64
import datetime
import gzip
import hashlib
import json
import sys
from unittest import mock

from requests.structures import CaseInsensitiveDict

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.x509.oid import NameOID

from wechatpayv3 import WeChatPay, WeChatPayType, utils
from wechatpayv3.core import Core

# Never used to decrypt anything here; the SDK's constructor wants 32 bytes.
APIV3_KEY = "0123456789abcdef0123456789abcdef"


def authorization(case):
    key = utils.load_private_key(case["private_key"])
    # build_authorization reads the clock itself: pin it to the case's time.
    with mock.patch.object(utils.time, "time", return_value=float(case["timestamp"])):
        header = utils.build_authorization(
            case["path"],
            case["method"],
            case["mchid"],
            case["serial"],
            key,
            data=case["body"],  # a str: the SDK would json.dumps a dict
            nonce_str=case["nonce"],
        )
    return {"authorization": header}


def pay_sign(case):
    wxpay = WeChatPay(
        wechatpay_type=WeChatPayType.JSAPI,
        mchid=case["mchid"],
        private_key=case["private_key"],
        cert_serial_no=case["serial"],
        appid=case["app_id"],
        apiv3_key=APIV3_KEY,
        public_key=case["public_key"],
        public_key_id=case["public_key_id"],
    )
    data = [case["app_id"], str(case["timestamp"]), case["nonce"], case["package"]]
    return {"pay_sign": wxpay.sign(data)}


def rsa_decrypt(case):
    key = utils.load_private_key(case["private_key"])
    return {"plaintext": utils.rsa_decrypt(case["ciphertext"], key)}


def rsa_sign(case):
    key = utils.load_private_key(case["private_key"])
    return {"signature": utils.rsa_sign(key, case["message"])}


def verify_signature(case):
    core = Core(
        mchid=case["mchid"],
        cert_serial_no=case["serial"],
        private_key=case["private_key"],
        apiv3_key=APIV3_KEY,
        public_key=case["public_key"],
        public_key_id=case["public_key_id"],
    )
    return {"verified": bool(core._verify_signature(case["headers"], case["body"]))}


def callback(case):
    core = Core(
        mchid=case["mchid"],
        cert_serial_no=case["serial"],
        private_key=case["private_key"],
        apiv3_key=case["apiv3_key"],
        public_key=case["public_key"],
        public_key_id=case["public_key_id"],
    )
    return {"notice": core.callback(case["headers"], case["body"])}


def aes_decrypt(case):
    plaintext = utils.aes_decrypt(
        case["nonce"], case["ciphertext"], case["associated_data"], case["apiv3_key"]
    )
    return {"plaintext": plaintext}


def aes_encrypt(case):
    sealed = AESGCM(case["apiv3_key"].encode("utf-8")).encrypt(
        case["nonce"].encode("utf-8"),
        case["plaintext"].encode("utf-8"),
        case["associated_data"].encode("utf-8"),
    )
    return {"ciphertext": base64.b64encode(sealed).decode("ascii")}


def certificate(case):
    key = serialization.load_pem_private_key(case["private_key"].encode(), password=None)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Tenpay.com"),
            x509.NameAttribute(NameOID.COMMON_NAME, "Tenpay.com Root CA"),
        ]
    )
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(int(case["serial_hex"], 16))
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    return {"pem": cert.public_bytes(serialization.Encoding.PEM).decode("ascii")}


class _Answer:
    """What `requests.get` returns, as much of it as the SDK reads."""

    def __init__(self, answer):
        self.status_code = answer["status"]
        self.headers = CaseInsensitiveDict(answer["headers"])
        if "body_b64" in answer:
            self.content = base64.b64decode(answer["body_b64"])
        else:
            self.content = answer["body"].encode("utf-8")
        self.text = self.content.decode("utf-8", errors="replace")


class _Nonce:
    def __init__(self, text):
        self.text = text

    def __str__(self):
        return self.text


def bills(case):
    wxpay = WeChatPay(
        wechatpay_type=WeChatPayType.NATIVE,
        mchid=case["mchid"],
        private_key=case["private_key"],
        cert_serial_no=case["serial"],
        appid="wx0000000000000000",
        apiv3_key=APIV3_KEY,
        public_key=case["public_key"],
        public_key_id=case["public_key_id"],
    )
    if "gateway" in case:
        wxpay._core._gate_way = case["gateway"]
    seen = []
    answers = iter(case["answers"])

    def get(url, headers, **_):
        seen.append({"url": url, "authorization": headers["Authorization"]})
        return _Answer(next(answers))

    nonces = iter(_Nonce(n) for n in case["nonces"])
    times = iter(float(t) for t in case.get("timestamps") or [case["timestamp"]] * 3)
    with mock.patch("wechatpayv3.core.requests.get", side_effect=get), mock.patch.object(
        utils.time, "time", side_effect=lambda: next(times)
    ), mock.patch.object(utils.uuid, "uuid4", side_effect=lambda: next(nonces)):
        _, trade = wxpay.trade_bill(case["bill_date"])
        trade = json.loads(trade)
        _, packed = wxpay.download_bill(trade["download_url"])
        _, fundflow = wxpay.fundflow_bill(case["bill_date"])
    unpacked = gzip.decompress(packed)
    return {
        "requests": seen,
        "trade": trade,
        "fundflow": json.loads(fundflow),
        "unpacked": unpacked.decode("utf-8"),
        "sha1": hashlib.sha1(unpacked).hexdigest(),
    }


def bill_file(case):
    text = case["text"].encode("utf-8")
    return {
        "gzip_b64": base64.b64encode(gzip.compress(text)).decode("ascii"),
        "sha1": hashlib.sha1(text).hexdigest(),
    }


OPS = {
    "bills": bills,
    "bill_file": bill_file,
    "aes_decrypt": aes_decrypt,
    "aes_encrypt": aes_encrypt,
    "callback": callback,
    "certificate": certificate,
    "authorization": authorization,
    "pay_sign": pay_sign,
    "rsa_decrypt": rsa_decrypt,
    "rsa_sign": rsa_sign,
    "verify_signature": verify_signature,
}


def main():
    case = json.loads(sys.stdin.buffer.read().decode("utf-8"))
    result = OPS[case["op"]](case)
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
