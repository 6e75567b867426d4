"""Batches AWS accepts: at most ten entries and 256 KiB of messages, in the order given."""

from __future__ import annotations

from collections.abc import Sequence

from shared.messaging.batching import MAX_BATCH_BYTES, MAX_BATCH_ENTRIES, batches, message_size

KIB = 1024
TYPE_ATTRIBUTE = {"type": {"DataType": "String", "StringValue": "CalendarReady"}}


def sizes_of(found: Sequence[Sequence[object]]) -> list[int]:
    return [len(batch) for batch in found]


def by_size(sizes: list[int]) -> list[list[int]]:
    """Batch items that are their own size in bytes."""
    return list(batches(sizes, size_of=lambda size: size))


class TestCountLimit:
    def test_eleven_small_entries_make_a_batch_of_ten_and_a_batch_of_one(self) -> None:
        assert sizes_of(by_size([1] * 11)) == [MAX_BATCH_ENTRIES, 1]

    def test_a_smaller_count_limit_is_kept(self) -> None:
        found = list(batches(range(7), size_of=lambda _: 0, max_entries=3))
        assert found == [[0, 1, 2], [3, 4, 5], [6]]

    def test_nothing_makes_no_batch(self) -> None:
        assert by_size([]) == []


class TestByteLimit:
    def test_ten_entries_of_30_kib_split_where_the_next_would_pass_256_kib(self) -> None:
        assert sizes_of(by_size([30 * KIB] * 10)) == [8, 2]

    def test_a_batch_may_add_up_to_exactly_the_limit(self) -> None:
        assert by_size([128 * KIB, 128 * KIB]) == [[128 * KIB, 128 * KIB]]

    def test_one_byte_past_the_limit_starts_a_new_batch(self) -> None:
        assert by_size([128 * KIB, 128 * KIB + 1]) == [[128 * KIB], [128 * KIB + 1]]

    def test_an_entry_exactly_at_the_limit_fits_on_its_own(self) -> None:
        assert by_size([1, MAX_BATCH_BYTES, 1]) == [[1], [MAX_BATCH_BYTES], [1]]

    def test_an_oversize_entry_goes_alone_and_the_rest_still_batch(self) -> None:
        oversize = MAX_BATCH_BYTES + 1
        assert by_size([1, 2, oversize, 3, 4]) == [[1, 2], [oversize], [3, 4]]

    def test_every_entry_comes_out_once_in_the_order_given(self) -> None:
        sizes = [(index * 37 * KIB) % (300 * KIB) for index in range(40)]
        found = by_size(sizes)
        assert [size for batch in found for size in batch] == sizes
        assert all(len(batch) <= MAX_BATCH_ENTRIES for batch in found)
        assert all(len(batch) == 1 or sum(batch) <= MAX_BATCH_BYTES for batch in found)


class TestMessageSize:
    def test_the_body_counts_in_utf8_bytes(self) -> None:
        assert message_size("é€") == 2 + 3

    def test_each_attribute_counts_its_name_data_type_and_value(self) -> None:
        counted = "body" + "type" + "String" + "CalendarReady"
        assert message_size("body", TYPE_ATTRIBUTE) == len(counted)

    def test_a_binary_attribute_counts_its_bytes(self) -> None:
        attributes = {"blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01\x02"}}
        assert message_size("", attributes) == len("blob" + "Binary") + 3

    def test_attributes_can_push_entries_into_separate_batches(self) -> None:
        body = "x" * (128 * KIB - 10)
        entries = [(body, TYPE_ATTRIBUTE), (body, TYPE_ATTRIBUTE)]
        by_body = list(batches(entries, size_of=lambda entry: message_size(entry[0])))
        by_message = list(batches(entries, size_of=lambda entry: message_size(*entry)))
        assert sizes_of(by_body) == [2]
        assert sizes_of(by_message) == [1, 1]
