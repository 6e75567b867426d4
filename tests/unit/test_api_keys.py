"""API keys: their format, reading them back, the stored hash, and when a use is written."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from shared.auth.api_keys import (
    ApiKey,
    StoredKey,
    is_key_id,
    matches,
    new_key,
    parse_key,
    secret_hash,
)

NOW = datetime(2026, 1, 2, 3, 4, 5)


def stored(key: ApiKey, *, last_used_at: datetime | None = None) -> StoredKey:
    return StoredKey(
        key_id=key.key_id,
        tenant="acme",
        roles=frozenset({"member"}),
        label="ci",
        secret_sha256=secret_hash(key.secret),
        created_at=NOW,
        last_used_at=last_used_at,
    )


class TestFormat:
    def test_a_new_key_reads_tok_id_secret_with_32_random_bytes(self) -> None:
        key = new_key()

        assert re.fullmatch(r"tok_[a-z0-9]{8}_[A-Za-z0-9_-]{43}", str(key))
        assert str(key).startswith(f"tok_{key.key_id}_")

    def test_keys_differ(self) -> None:
        made = {str(new_key()) for _ in range(200)}

        assert len(made) == 200

    def test_its_repr_hides_the_secret(self) -> None:
        key = new_key()

        assert key.secret not in repr(key)
        assert key.key_id in repr(key)


class TestParsing:
    def test_a_key_reads_back_as_itself(self) -> None:
        key = new_key()

        assert parse_key(str(key)) == key

    def test_a_secret_with_the_separator_in_it_reads_back_whole(self) -> None:
        key = ApiKey("abcd1234", "_" * 20 + "-" * 23)

        assert parse_key(str(key)) == key

    def test_near_misses_are_none(self) -> None:
        good = str(new_key())
        for text in (
            good[:-1],
            good.replace("tok_", "TOK_"),
            good + "\n",
            " " + good,
            "tok_ABCDEFGH_" + "a" * 43,
            "tok_abcdefg_" + "a" * 43,
            "tok_abcdefgh_" + "a" * 42,
            "tok_abcdefgh_" + "a" * 43 + "!",
            "",
        ):
            assert parse_key(text) is None, text

    @given(st.one_of(st.text(), st.binary(), st.integers(), st.none(), st.lists(st.text())))
    def test_garbage_is_none_never_an_exception(self, garbage: object) -> None:
        found = parse_key(garbage)

        assert found is None or isinstance(found, ApiKey)

    def test_an_overlong_text_is_refused_without_reading_it(self) -> None:
        assert parse_key("tok_abcdefgh_" + "a" * 10_000) is None

    def test_key_ids_are_eight_lowercase_letters_or_digits(self) -> None:
        assert is_key_id("abc12345")
        assert not is_key_id("abc1234")
        assert not is_key_id("ABC12345")
        assert not is_key_id(None)


class TestStoredHash:
    def test_only_the_sha256_of_the_secret_is_kept(self) -> None:
        key = new_key()

        assert secret_hash(key.secret) == hashlib.sha256(key.secret.encode()).hexdigest()
        assert key.secret not in secret_hash(key.secret)

    def test_the_secret_matches_its_hash_and_nothing_else_does(self) -> None:
        key, other = new_key(), new_key()

        assert matches(key, secret_hash(key.secret))
        assert not matches(other, secret_hash(key.secret))
        assert not matches(ApiKey(key.key_id, key.secret[:-1] + "x"), secret_hash(key.secret))


class TestUseNotes:
    def test_a_key_never_used_is_noted(self) -> None:
        assert stored(new_key()).needs_use_noted(NOW)

    def test_within_a_minute_of_the_last_note_it_is_not(self) -> None:
        key = stored(new_key(), last_used_at=NOW)

        assert not key.needs_use_noted(NOW + timedelta(seconds=59))
        assert key.needs_use_noted(NOW + timedelta(seconds=60))

    def test_the_principal_is_the_key_s_tenant_and_roles(self) -> None:
        key = new_key()

        principal = stored(key).principal

        assert (principal.tenant, principal.roles) == ("acme", frozenset({"member"}))
        assert principal.subject == f"api-key:{key.key_id}"
        assert key.secret not in principal.subject
