"""The frozen value classes the layer uses instead of dataclasses (records.py)."""

from __future__ import annotations

import pytest

from wxlogin.records import hidden, record, replace


@record
class Sample:
    name: str
    secret: str = hidden()
    count: int = 0
    note: str | None = hidden(None)


def test_a_record_is_built_by_position_or_keyword_with_its_defaults():
    assert Sample("a", "s") == Sample(name="a", secret="s", count=0, note=None)
    assert Sample("a", "s", 2).count == 2 and Sample("a", secret="s").note is None


def test_a_record_refuses_missing_unknown_repeated_and_extra_fields():
    for build in (
        lambda: Sample("a"),
        lambda: Sample("a", "s", other=1),
        lambda: Sample("a", "s", name="b"),
        lambda: Sample("a", "s", 1, None, 5),
    ):
        with pytest.raises(TypeError):
            build()


def test_a_record_is_frozen_and_compares_and_hashes_by_value():
    sample = Sample("a", "s")
    with pytest.raises(AttributeError):
        sample.name = "b"
    with pytest.raises(AttributeError):
        del sample.name
    assert hash(sample) == hash(Sample("a", "s")) and sample != Sample("a", "t") and sample != ("a", "s", 0, None)


def test_hidden_fields_stay_out_of_repr():
    text = repr(Sample("a", "top-secret", 3, "payload"))
    assert text == "Sample(name='a', count=3)" and "top-secret" not in text and "payload" not in text


def test_replace_copies_with_changes():
    sample = Sample("a", "s", 1)
    assert replace(sample, count=2) == Sample("a", "s", 2) and sample.count == 1


def test_a_class_with_its_own_repr_is_refused_rather_than_silently_overridden():
    with pytest.raises(TypeError, match="hidden"):

        @record
        class Leaky:
            secret: str

            def __repr__(self):
                return "Leaky()"


def test_a_wechat_session_repr_holds_no_session_key():
    from wxlogin.wechat.client import WeChatSession

    text = repr(WeChatSession(openid="o1", session_key="c2Vzc2lvbi1rZXktMTY=", unionid="u1"))
    assert "c2Vzc2lvbi1rZXktMTY=" not in text and "o1" in text and "u1" in text
