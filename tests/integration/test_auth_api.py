from aether_web.cookies import SESSION_COOKIE


def _signup(api, email="new@example.com", password="long-password-1"):
    return api.post("/api/auth/signup", json={"email": email, "password": password, "name": "N"})


def test_signup_sets_httponly_session_cookie(api):
    r = _signup(api)
    assert r.status_code == 200
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=") and "HttpOnly" in cookie
    assert "samesite=lax" in cookie.lower()
    me = api.get("/api/auth/me")
    assert me.status_code == 200 and me.json()["user"]["email"] == "new@example.com"
    assert me.json()["user"]["plan"] == "free"


def test_signup_errors_are_clear(api):
    r = _signup(api, email="not-an-email", password="short")
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["code"] == "invalid_input" and set(err["fields"]) == {"email", "password"}
    assert _signup(api).status_code == 200
    dup = _signup(api, email="NEW@example.com")
    assert dup.status_code == 409 and dup.json()["error"]["code"] == "email_taken"


def test_form_post_redirects_with_error_code(api):
    r = api.post("/api/auth/signup", data={"email": "x", "password": "y"}, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"].startswith("/signup?error=invalid_email")


def test_login_gives_a_new_session_each_time_and_logout_ends_it(api, make_user):
    user = make_user(email="bob@example.com")
    first = api.post("/api/auth/login", json={"email": "bob@example.com",
                                               "password": "correct-horse-battery"})
    assert first.status_code == 200
    token1 = first.cookies.get(SESSION_COOKIE)
    second = api.post("/api/auth/login", json={"email": "Bob@Example.com",
                                                "password": "correct-horse-battery"})
    token2 = second.cookies.get(SESSION_COOKIE)
    assert token1 and token2 and token1 != token2
    assert api.get("/api/auth/me").json()["user"]["id"] == str(user.id)
    assert api.post("/api/auth/logout").status_code == 200
    api.cookies.clear()
    api.cookies.set(SESSION_COOKIE, token2)
    assert api.get("/api/auth/me").status_code == 401


def test_wrong_password_then_throttled(api, make_user):
    make_user(email="carol@example.com")
    for _ in range(5):
        r = api.post("/api/auth/login", json={"email": "carol@example.com", "password": "nope"})
        assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_credentials"
    r = api.post("/api/auth/login", json={"email": "carol@example.com",
                                           "password": "correct-horse-battery"})
    assert r.status_code == 429 and r.json()["error"]["code"] == "too_many_attempts"


def test_unknown_email_and_garbage_cookie(api):
    r = api.post("/api/auth/login", json={"email": "ghost@example.com", "password": "whatever1"})
    assert r.status_code == 401
    api.cookies.set(SESSION_COOKIE, "garbage")
    assert api.get("/api/auth/me").json()["error"]["code"] == "unauthenticated"


def test_expired_session_is_refused(api, make_user, engine):
    import sqlalchemy as sa

    from aether_web.db import transaction
    from aether_web.models import AuthSession
    from aether_web.services.accounts import create_session

    user = make_user()
    with transaction(engine) as s:
        token = create_session(s, user_id=user.id)
    with transaction(engine) as s:
        s.exec(sa.update(AuthSession).values(
            expires_at=sa.func.now() - sa.text("INTERVAL '1 hour'")
            if engine.dialect.name == "postgresql" else sa.text("datetime('now','-1 hour')")))
    api.cookies.set(SESSION_COOKIE, token)
    assert api.get("/api/auth/me").status_code == 401


def test_malformed_json_and_unknown_route(api):
    r = api.post("/api/auth/login", content=b"{nope", headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "malformed_json"
    r = api.get("/api/does-not-exist")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


def test_a_failed_form_keeps_the_email_out_of_the_address(api, make_user):
    make_user(email="dora@example.com")
    r = api.post("/api/auth/login", data={"email": "dora@example.com", "password": "wrong-one"},
                 follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login?error=")
    assert "dora" not in r.headers["location"]
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("aether_form_email=dora%40example.com")
    assert "HttpOnly" in cookie and "Max-Age=300" in cookie
