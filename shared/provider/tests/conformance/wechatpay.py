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
"""

import json
import sys
from unittest import mock

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


OPS = {
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
