"""Alipay notifies as python-alipay-sdk (PyPI `alipay`, pinned in
infra/conformance.sh) signs and checks them, for tests/alipay_notify_sdk.rs.

Reads one JSON case on stdin, prints one JSON result on stdout. Offline.

Cases ("op" and its fields; keys are PEM text; `params` excludes `sign`):
  sign_notify    app_id, private_key (Alipay's), public_key, params, charset
                 -> {"body": the form Alipay would POST, "content": the signed text}.
                 The signed text is the SDK's own: `AliPay.verify` pops `sign_type`
                 and joins `_ordered_data(params)` as k=v with `&`, empty values
                 kept. For utf-8 the SDK's `_sign` signs it; for gbk/gb2312 the
                 same key signs the text encoded with Python's codec of that name
                 (the SDK's `_sign` only encodes UTF-8). The form is encoded by
                 Python's `urlencode(..., encoding=charset)`.
  verify_notify  app_id, private_key, public_key, params (with `sign`)
                 -> {"verified": AliPay(...).verify(params without sign, sign)}
"""

import json
import os
import sys
from urllib.parse import urlencode

# Keep this directory (it holds alipay.py, another driver) off the path.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]

from alipay import AliPay  # noqa: E402
from alipay.compat import encodebytes  # noqa: E402
from Cryptodome.Hash import SHA256  # noqa: E402
from Cryptodome.Signature import PKCS1_v1_5  # noqa: E402


def alipay(case):
    return AliPay(
        case["app_id"],
        app_private_key_string=case["private_key"],
        alipay_public_key_string=case["public_key"],
    )


def signed_text(ali, params):
    data = dict(params)
    data.pop("sign_type", None)
    return "&".join("{}={}".format(k, v) for k, v in ali._ordered_data(data))


def sign_notify(case):
    ali = alipay(case)
    charset = case["charset"]
    content = signed_text(ali, case["params"])
    if charset.lower() in ("utf-8", "utf8"):
        sign = ali._sign(content)
    else:
        signer = PKCS1_v1_5.new(ali.app_private_key)
        signature = signer.sign(SHA256.new(content.encode(charset)))
        sign = encodebytes(signature).decode().replace("\n", "")
    form = dict(case["params"])
    form["sign"] = sign
    return {"body": urlencode(form, encoding=charset), "content": content}


def verify_notify(case):
    data = dict(case["params"])
    sign = data.pop("sign")
    return {"verified": bool(alipay(case).verify(data, sign))}


OPS = {"sign_notify": sign_notify, "verify_notify": verify_notify}


def main():
    case = json.loads(sys.stdin.buffer.read().decode("utf-8"))
    sys.stdout.write(json.dumps(OPS[case["op"]](case), ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
