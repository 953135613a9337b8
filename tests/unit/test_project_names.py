import pytest

from aether_web.errors import InvalidInput
from aether_web.services.accounts import validate_signup
from aether_web.services.projects import validate_name


@pytest.mark.parametrize("name", ["my-app", "App 2", "a", "x" * 64, "  padded  "])
def test_valid_names(name):
    assert validate_name(name) == name.strip()


@pytest.mark.parametrize("name", ["", "   ", "x" * 65, "-leading", "bad/slash", "<script>"])
def test_invalid_names(name):
    with pytest.raises(InvalidInput):
        validate_name(name)


def test_signup_validation_messages():
    errors = validate_signup(email="nope", password="short", name="")
    assert set(errors) == {"email", "password"}
    assert validate_signup(email="a@b.co", password="long enough pw", name="A") == {}
