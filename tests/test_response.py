"""`visible_text` and `answer_in_tags`: what every bundled verifier reads of a response."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from assay import answer_in_tags, visible_text

#: Text with none of the markers these functions look for.
plain = st.text(alphabet=st.characters(blacklist_characters="<>|"), max_size=80)


@given(plain)
def test_a_response_without_markers_is_left_as_it_is(text: str) -> None:
    assert visible_text(text) == text
    assert answer_in_tags(text) is None


@given(plain, plain, plain)
def test_only_what_follows_the_last_end_of_reasoning_is_visible(first: str, second: str, answer: str) -> None:
    response = f"<think>{first}</think>{second}</THINK>{answer}"
    assert visible_text(response) == answer
    assert visible_text(visible_text(response)) == visible_text(response)


@given(plain, plain)
def test_a_chat_template_token_ends_the_answer_unless_it_starts_it(answer: str, after: str) -> None:
    assert visible_text(f"{answer}x<|im_end|>{after}") == answer + "x"
    assert visible_text(f"<|im_start|>{answer}") == f"<|im_start|>{answer}"


@given(plain, plain, plain.filter(lambda s: s.strip() != ""))
def test_the_last_answer_tag_is_the_answer(before: str, draft: str, answer: str) -> None:
    assert answer_in_tags(f"{before}<answer>{draft}</answer> then <ANSWER>{answer}</answer>{before}") == answer
    assert answer_in_tags(f"{before}<answer>{answer}") == answer  # cut off inside the tag
    assert answer_in_tags(f"{before}<answer> \n </answer>") is None
