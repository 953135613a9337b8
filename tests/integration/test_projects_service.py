import threading
import uuid

import pytest
from sqlmodel import Session

from aether_web.db import transaction
from aether_web.errors import Conflict, LimitReached, NotFound
from aether_web.services import projects


def test_free_cap_is_three_and_paid_caps_follow_the_plan(engine, make_user):
    free = make_user()
    with transaction(engine) as s:
        for n in ("a", "b", "c"):
            projects.create_project(s, user_id=free.id, name=n)
    with pytest.raises(LimitReached) as info, transaction(engine) as s:
        projects.create_project(s, user_id=free.id, name="d")
    assert info.value.code == "project_limit_reached" and "Upgrade" in info.value.message
    with Session(engine) as s:
        assert projects.count_projects(s, user_id=free.id) == 3


def test_deleted_projects_free_a_slot_but_stay_on_record(engine, make_user, make_project):
    user = make_user()
    ps = [make_project(user, name=n) for n in ("a", "b", "c")]
    with transaction(engine) as s:
        projects.delete_project(s, user_id=user.id, project_id=ps[0].id)
    with transaction(engine) as s:
        projects.create_project(s, user_id=user.id, name="d")
        names = [p.name for p in projects.list_projects(s, user_id=user.id)]
    assert sorted(names) == ["b", "c", "d"]
    with Session(engine) as s:
        from aether_web.models import Project

        assert s.get(Project, ps[0].id).deleted_at is not None


def test_other_users_projects_are_not_found(engine, make_user, make_project):
    alice, bob = make_user(), make_user()
    project = make_project(alice, name="secret")
    with Session(engine) as s:
        for call in (
            lambda: projects.get_project(s, user_id=bob.id, project_id=project.id),
            lambda: projects.rename_project(s, user_id=bob.id, project_id=project.id, name="x"),
            lambda: projects.delete_project(s, user_id=bob.id, project_id=project.id),
            lambda: projects.get_project(s, user_id=alice.id, project_id="not-a-uuid"),
            lambda: projects.get_project(s, user_id=alice.id, project_id=uuid.uuid4()),
        ):
            with pytest.raises(NotFound):
                call()
        assert projects.list_projects(s, user_id=bob.id) == []


def test_rename_and_duplicate_names(engine, make_user, make_project):
    user = make_user()
    a = make_project(user, name="alpha")
    make_project(user, name="beta")
    with transaction(engine) as s:
        assert projects.rename_project(s, user_id=user.id, project_id=a.id,
                                       name="gamma").name == "gamma"
    with pytest.raises(Conflict), transaction(engine) as s:
        projects.rename_project(s, user_id=user.id, project_id=a.id, name="BETA")


def _race_creates(engine, user_id, count):
    barrier = threading.Barrier(count)
    results = []

    def worker(i):
        barrier.wait()
        try:
            with transaction(engine) as s:
                projects.create_project(s, user_id=user_id, name=f"p{i}")
            results.append("ok")
        except LimitReached:
            results.append("limit")
        except Exception as exc:  # a serialisation failure is a refusal too, never a 4th
            results.append(type(exc).__name__)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_simultaneous_creates_never_exceed_the_cap(engine, make_user):
    user = make_user()
    results = _race_creates(engine, user.id, 8)
    with Session(engine) as s:
        assert projects.count_projects(s, user_id=user.id) == 3
    assert results.count("ok") == 3


@pytest.mark.postgres
def test_simultaneous_creates_on_postgres_make_exactly_three(engine, make_user):
    assert engine.dialect.name == "postgresql"
    for _ in range(3):
        user = make_user()
        results = _race_creates(engine, user.id, 12)
        with Session(engine) as s:
            assert projects.count_projects(s, user_id=user.id) == 3
        assert results.count("ok") == 3 and results.count("limit") == 9
