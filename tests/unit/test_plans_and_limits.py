from aether_web.billing.limits import can_create_project, can_start_vm, usage_level, usage_percent
from aether_web.billing.plans import FREE, PLANS, PRO, TEAM, get_plan


def test_catalogue_matches_the_prd():
    assert (FREE.monthly_price_cents, FREE.compute_hours, FREE.storage_gb, FREE.max_projects) == (
        0, 50, 1, 3)
    assert (PRO.monthly_price_cents, PRO.compute_hours, PRO.storage_gb, PRO.max_projects) == (
        2000, 200, 10, 20)
    assert (TEAM.monthly_price_cents, TEAM.compute_hours, TEAM.storage_gb, TEAM.max_projects) == (
        5000, 500, 50, None)
    assert [p.is_paid for p in PLANS.values()] == [False, True, True]
    assert FREE.compute_seconds == 180000 and TEAM.compute_seconds == 1800000


def test_unknown_plan_never_grants_more_than_free():
    assert get_plan("enterprise") is FREE
    assert get_plan(None) is FREE


def test_project_cap():
    assert can_create_project(FREE, 2)
    assert not can_create_project(FREE, 3)
    assert can_create_project(PRO, 19) and not can_create_project(PRO, 20)
    assert can_create_project(TEAM, 10_000)


def test_free_compute_is_a_hard_cap_paid_plans_run_on():
    assert can_start_vm(FREE, FREE.compute_seconds - 1)
    assert not can_start_vm(FREE, FREE.compute_seconds)
    assert can_start_vm(PRO, PRO.compute_seconds * 3)


def test_usage_levels_warn_from_80_percent():
    assert usage_level(79, 100) == "ok"
    assert usage_level(80, 100) == "warning"
    assert usage_level(100, 100) == "limit"
    assert usage_percent(99.9, 100) == 99
    assert usage_percent(42.5, 50) == 85
