"""The SNS form body encoded once (shared/aws/form_bodies.py) is byte for byte what botocore's
`urlencode` would send, so the signature and the server see the same request as before."""

from __future__ import annotations

from types import SimpleNamespace
from urllib.parse import urlencode

import pytest

from shared.aws.form_bodies import encode_form_once, form_encoded

FIELDS = [
    [("Action", "PublishBatch"), ("Version", "2010-03-31")],
    [("PublishBatchRequestEntries.member.1.Message", '{"title": "Café ✓ 100% & more=yes"}')],
    [("Every.Byte", bytes(range(256))), ("Number", 7), ("Flag", True), ("Empty", "")],
    [(b"Key.In.Bytes", b"a b+c/d?e#f")],
]


@pytest.mark.parametrize("fields", FIELDS)
def test_encodes_as_urlencode_does(fields: list[tuple[str | bytes, object]]) -> None:
    assert form_encoded(fields) == urlencode(fields, doseq=True)


def test_the_hook_replaces_a_dict_body_and_leaves_any_other_alone() -> None:
    form = SimpleNamespace(data={"Action": "Publish", "Message": "a b"})
    json_body = SimpleNamespace(data=b'{"QueueUrl": "q"}')

    encode_form_once(form)
    encode_form_once(json_body)

    assert form.data == "Action=Publish&Message=a+b"
    assert json_body.data == b'{"QueueUrl": "q"}'
