"""The hash-locked requirement files match the exact pins (tools/check_locks.py)."""

from tools import check_locks


def test_locks_match_their_pins_and_every_import_is_pinned():
    assert check_locks.problems() == []


def test_the_check_sees_what_the_app_imports():
    imported = check_locks.imported_distributions()
    assert {"stripe", "sqlmodel", "argon2-cffi", "apscheduler", "reflex"} <= imported
    assert "pytest" not in imported


def test_the_runtime_lock_has_no_test_tooling_and_every_entry_is_hashed():
    runtime = check_locks.locked(check_locks.ROOT / "requirements.lock")
    assert "reflex" in runtime and "stripe" in runtime
    assert not check_locks.DEV_ONLY & set(runtime)
    assert all(count >= 1 for _, count in runtime.values())


def test_an_unlocked_pin_is_reported(tmp_path, monkeypatch):
    (tmp_path / "requirements.txt").write_text("stripe==16.1.0\nnot-locked-pkg==1.0\n")
    (tmp_path / "requirements-dev.in").write_text("-r requirements.txt\n")
    lock = "stripe==16.1.0 \\\n    --hash=sha256:00\n"
    (tmp_path / "requirements.lock").write_text(lock)
    (tmp_path / "requirements-dev.lock").write_text(lock)
    monkeypatch.setattr(check_locks, "ROOT", tmp_path)
    monkeypatch.setattr(check_locks, "APP_SOURCES", ())
    found = check_locks.problems()
    assert any("not-locked-pkg" in line for line in found)
