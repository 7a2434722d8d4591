"""X-Twilio-Signature against the published vectors (twilio.com/docs/usage/security example, as used in
twilio-python's tests/unit/test_request_validator.py)."""

from __future__ import annotations

from inbox.channels.sms.providers.twilio import compute_signature, url_variants, verify_signature

TOKEN = "12345"
URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
PARAMS = [
    ("CallSid", "CA1234567890ABCDE"),
    ("Digits", "1234"),
    ("From", "+14158675309"),
    ("To", "+18005551212"),
    ("Caller", "+14158675309"),
]
EXPECTED = "RSOYDt4T1cUTdK1PDd93/VVr8B8="


def test_documented_example() -> None:
    assert compute_signature(TOKEN, URL, PARAMS) == EXPECTED


def test_parameter_order_does_not_matter() -> None:
    assert compute_signature(TOKEN, URL, list(reversed(PARAMS))) == EXPECTED


def test_repeated_parameters_sorted_by_value() -> None:
    params = [("Sid", "CA123"), ("SidAccount", "AC123"), ("Digits", "5678"), ("Digits", "1234")]
    assert compute_signature(TOKEN, URL, params) == "IK+Dwps556ElfBT0I3Rgjkr1wJU="


def test_verify_accepts_documented_signature_and_rejects_others() -> None:
    assert verify_signature(TOKEN, [URL], PARAMS, EXPECTED)
    assert not verify_signature("54321", [URL], PARAMS, EXPECTED)
    assert not verify_signature(TOKEN, [URL], [*PARAMS[:-1], ("Caller", "+10000000000")], EXPECTED)
    assert not verify_signature(TOKEN, [URL + "&x=1"], PARAMS, EXPECTED)
    assert not verify_signature(TOKEN, [URL], PARAMS, "")


def test_default_port_variants_as_twilio_validators_do() -> None:
    # Signatures Twilio computed with the port spelled out (from the same test suite).
    assert verify_signature(TOKEN, [URL], PARAMS, "kvajT1Ptam85bY51eRf/AJRuM3w=")  # :443 added
    assert verify_signature(TOKEN, [URL.replace(".com", ".com:1234")], PARAMS, EXPECTED)  # port removed
    http = URL.replace("https", "http")
    assert verify_signature(TOKEN, [http], PARAMS, "0ZXoZLH/DfblKGATFgpif+LLRf4=")  # :80 added
    http_port = http.replace(".com", ".com:1234")
    assert verify_signature(TOKEN, [http_port], PARAMS, "Zmvh+3yNM1Phv2jhDCwEM3q5ebU=")  # as given


def test_url_variants() -> None:
    assert url_variants("https://a.example/x?y=1") == [
        "https://a.example/x?y=1",
        "https://a.example:443/x?y=1",
    ]
    assert url_variants("http://a.example:8080/x") == ["http://a.example:8080/x", "http://a.example/x"]
