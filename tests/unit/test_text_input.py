import unicodedata

import pytest

from aether_web.services.text_input import hidden_character


@pytest.mark.parametrize("code", range(128))
def test_each_ascii_character_is_judged_by_its_unicode_category(code):
    """The printable-ASCII shortcut refuses exactly what the per-character rule refuses."""
    ch = chr(code)
    refused = unicodedata.category(ch) in {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}
    for text in (ch, f"a{ch}b", f"project-{ch}"):
        assert hidden_character(text) == (f"U+{code:04X}" if refused else None)


def test_non_ascii_text_is_still_checked_character_by_character():
    assert hidden_character("Zoë") is None
    assert hidden_character("ab\u202ecd") == "U+202E"
    assert hidden_character("\u3164") == "U+3164"
    assert hidden_character(None) is None  # type: ignore[arg-type]
