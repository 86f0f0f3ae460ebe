"""Strict JSON request bodies: refused values named by their path, in time linear in the body."""
import pytest

from chalicelib.errors import PayloadTooLarge, ValidationError
from chalicelib.events import MAX_BODY_BYTES
from chalicelib.strict_json import parse_json_body


@pytest.mark.parametrize("raw", [b'{"a": NaN}', b'{"a": Infinity}', b'{"a": -Infinity}'])
def test_non_finite_numbers_are_rejected_naming_where(raw):
    with pytest.raises(ValidationError, match="^a: .*Infinity|^a: NaN"):
        parse_json_body(raw)


def test_refused_values_are_named_by_their_path():
    with pytest.raises(ValidationError, match=r"^logs\[1\]\.metadata\.n: NaN is not valid JSON"):
        parse_json_body(b'{"logs": [{"metadata": {"n": 1}}, {"metadata": {"n": NaN}}]}')
    with pytest.raises(ValidationError, match=r"^logs\[0\]\.metadata\.list\[2\]: "):
        parse_json_body(b'{"logs": [{"metadata": {"list": [1, 2, Infinity]}}]}')


def test_duplicate_keys_are_rejected_naming_the_key_even_when_nested():
    with pytest.raises(ValidationError, match="^metadata.b: duplicate key"):
        parse_json_body(b'{"metadata": {"b": 1, "b": 2}}')
    with pytest.raises(ValidationError, match="^message: duplicate key"):
        parse_json_body(b'{"message": "a", "message": "b"}')


@pytest.mark.parametrize("raw", [b"", b"   ", b"{", b"[1,]", b"\xff\xfe", b'{"a": 1} trailing', b"\xef\xbb\xbf{}"])
def test_malformed_bodies_are_400(raw):
    with pytest.raises(ValidationError, match="^body: "):
        parse_json_body(raw)


@pytest.mark.parametrize("number", [b"1e999", b"-1e999", b"1.5e400"])
def test_numbers_that_overflow_a_double_are_rejected_not_stored_as_infinity(number):
    with pytest.raises(ValidationError, match="^metadata.n: the number .* out of range"):
        parse_json_body(b'{"metadata": {"n": ' + number + b"}}")
    assert parse_json_body(b'{"n": 1.5e300}') == {"n": 1.5e300}


def test_an_integer_with_thousands_of_digits_is_a_clear_400():
    with pytest.raises(ValidationError, match="^body: holds an integer with too many digits"):
        parse_json_body(b'{"n": ' + b"1" * 5000 + b"}")


def test_deeply_nested_json_is_a_clear_400_not_a_crash():
    with pytest.raises(ValidationError, match="^body: "):
        parse_json_body(b"[" * 100_000 + b"]" * 100_000)


def test_body_over_one_mebibyte_is_too_large_and_at_the_limit_is_not():
    at_limit = b'{"message": "' + b"x" * (MAX_BODY_BYTES - 15) + b'"}'
    assert len(at_limit) == MAX_BODY_BYTES
    assert parse_json_body(at_limit)["message"].startswith("x")
    with pytest.raises(PayloadTooLarge):
        parse_json_body(at_limit + b" ")


def test_a_missing_body_is_400():
    with pytest.raises(ValidationError, match="^body: is empty"):
        parse_json_body(None)


def test_a_str_body_is_parsed_like_bytes():
    assert parse_json_body('{"a": "é"}') == {"a": "é"}




def test_the_refused_value_under_a_huge_key_among_many_siblings_is_named_and_its_path_written_once(monkeypatch):
    from chalicelib import strict_json

    written = []
    real_path = strict_json._path
    monkeypatch.setattr(strict_json, "_path", lambda node: written.append(node) or real_path(node))
    key = "k" * 100_000
    body = ('{"' + key + '": [' + "0," * 100_000 + "NaN]}").encode()

    with pytest.raises(ValidationError) as caught:
        parse_json_body(body)

    assert str(caught.value) == f"{key}[100000]: NaN is not valid JSON"
    assert len(written) == 1


def test_nesting_as_deep_as_the_parser_takes_is_walked_without_recursion():
    body = ('{"a": ' + '{"b": ' * 900 + "NaN" + "}" * 900 + "}").encode()
    with pytest.raises(ValidationError, match=r"^a(\.b){900}: NaN is not valid JSON"):
        parse_json_body(body)
