from aether_web.observability import FILTERED, scrub_event


def test_scrub_removes_personal_data():
    event = {
        "message": "signup failed for alice@example.com",
        "request": {
            "headers": {"Cookie": "aether_session=abc", "Authorization": "Bearer x",
                        "User-Agent": "ua"},
            "cookies": {"aether_session": "abc"},
            "data": {"password": "hunter2hunter2"},
        },
        "user": {"id": "u1", "email": "alice@example.com", "ip_address": "1.2.3.4"},
        "exception": {"values": [{"value": "no user bob@example.org",
                                  "stacktrace": {"frames": [{"vars": {"email": "x@y.zz",
                                                                       "n": 1}}]}}]},
    }
    out = scrub_event(event)
    text = repr(out)
    assert "alice@example.com" not in text and "bob@example.org" not in text
    assert "x@y.zz" not in text and "abc" not in text and "hunter2" not in text
    assert out["request"]["headers"]["Cookie"] == FILTERED
    assert out["request"]["headers"]["User-Agent"] == "ua"
    assert out["user"] == {"id": "u1"}
    assert out["exception"]["values"][0]["stacktrace"]["frames"][0]["vars"]["n"] == 1
