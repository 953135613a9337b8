import pytest

from aether_web.errors import InvalidInput
from aether_web.services.accounts import validate_signup
from aether_web.services.projects import validate_name


@pytest.mark.parametrize("name", ["my-app", "App 2", "a", "x" * 64, "  padded  ", "café",
                                  "Ünïcode_2.0", "東京-api", "9lives"])
def test_valid_names(name):
    assert validate_name(name) == name.strip()


def test_names_are_stored_composed():
    assert validate_name("cafe\u0301") == "caf\u00e9"  # e + combining accent -> é


def test_the_messages_say_the_rule_and_the_length():
    with pytest.raises(InvalidInput, match=r"letters \(any language\)"):
        validate_name("bad/slash")
    with pytest.raises(InvalidInput, match="this one has 65"):
        validate_name("x" * 65)


@pytest.mark.parametrize("name", ["", "   ", "x" * 65, "-leading", "_under", "bad/slash",
                                  "<script>", "tab\there", "emoji🚀"])
def test_invalid_names(name):
    with pytest.raises(InvalidInput):
        validate_name(name)


def test_signup_validation_messages():
    errors = validate_signup(email="nope", password="short", name="")
    assert set(errors) == {"email", "password"}
    assert validate_signup(email="a@b.co", password="long enough pw", name="A") == {}
