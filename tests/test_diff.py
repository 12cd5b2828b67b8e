"""`websys diff` and the committed plan snapshots."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.planning import plan_for, run_websys
from websys.diff import COMMENT_LIMIT, diff_plans, render_markdown
from websys.plan import PROJECT_DIR, Plan
from websys.plan.snapshots import snapshot_path, stale_snapshot
from websys.settings import ENVIRONMENTS


def _diff(before: Plan, after: Plan) -> str:
    return render_markdown(diff_plans(before.to_json(), after.to_json()))


def test_raising_replicas_shows_exactly_the_added_containers(stack_plans: dict[str, Plan]) -> None:
    after = plan_for("production", sets=["backend.blue.replicas=5"])
    diff = diff_plans(stack_plans["production"].to_json(), after.to_json())
    assert [r.name for r in diff.added] == ["backend-blue-4", "backend-blue-5"]
    assert diff.removed == []
    # nginx's config (new upstream servers) and Prometheus's (new scrape targets) change, by their
    # config pushes: nothing else.
    changed = {item.name: [c.path for c in item.changes] for item in diff.changed}
    assert changed == {
        "proxy-config": ["dependencies", "inputs.environment.WEBSYS_NGINX_CONFIG"],
        "monitoring-prometheus-config": ["dependencies", "inputs.environment.WEBSYS_PROMETHEUS_CONFIG"],
    }
    text = render_markdown(diff)
    assert "**2 added, 0 removed, 2 changed**" in text
    assert "websys-production-backend-blue-5" in text


def test_idle_color_image_change_touches_only_that_color() -> None:
    green = ["backend.green.replicas=2", "backend.green.image=registry.websys.company.com/websys/backend:1.1.0"]
    before = plan_for("production", sets=green)
    after = plan_for(
        "production", sets=[*green[:1], "backend.green.image=registry.websys.company.com/websys/backend:1.2.0"]
    )
    diff = diff_plans(before.to_json(), after.to_json())
    assert diff.added == []
    assert diff.removed == []
    assert sorted(r.name for r in diff.changed) == ["backend-green-1", "backend-green-2", "backend-green-image"]
    image = next(r for r in diff.changed if r.name == "backend-green-image")
    assert [(c.path, c.after) for c in image.changes] == [
        ("inputs.name", "registry.websys.company.com/websys/backend:1.2.0")
    ]
    for container in (r for r in diff.changed if r.name != "backend-green-image"):
        assert [c.path for c in container.changes] == ["inputs.image"]


def test_changing_a_secret_shows_only_the_redaction(stack_plans: dict[str, Plan]) -> None:
    before = plan_for("production", secrets=["jwtSecret=first-value-AAAA"])
    after = plan_for("production", secrets=["jwtSecret=second-value-BBBB"])
    text = _diff(before, after)
    assert "No changes." in text
    assert "AAAA" not in text
    assert "BBBB" not in text
    generated = _diff(stack_plans["production"], after)
    assert "second-value" not in generated
    assert "`secrets-jwt-secret` (random:index/randomPassword:RandomPassword)" in generated


def test_removing_a_data_volume_is_flagged() -> None:
    volume = {
        "urn": "urn:pulumi:production::websys::websys:postgres:Postgres$docker:index/volume:Volume::pg-data",
        "type": "docker:index/volume:Volume",
        "name": "pg-data",
        "inputs": {"name": "websys-production-pg-data"},
    }
    before = {"project": "websys", "stack": "production", "resources": [volume]}
    after = {"project": "websys", "stack": "production", "resources": []}
    text = render_markdown(diff_plans(before, after))
    assert "[!CAUTION]" in text
    assert "- `pg-data` (docker:index/volume:Volume): removed" in text
    assert "- `pg-data` (docker:index/volume:Volume) ⚠️ **holds data**" in text


def test_identical_plans_give_an_empty_diff(stack_plans: dict[str, Plan]) -> None:
    diff = diff_plans(stack_plans["staging"].to_json(), stack_plans["staging"].to_json())
    assert diff.empty
    assert render_markdown(diff) == "### Plan diff: `websys/staging`\n\nNo changes.\n"


def test_long_output_is_trimmed_with_a_note(stack_plans: dict[str, Plan]) -> None:
    after = plan_for("production", sets=["backend.blue.replicas=400"])
    full = render_markdown(diff_plans(stack_plans["production"].to_json(), after.to_json()), limit=10**9)
    assert len(full) < COMMENT_LIMIT  # 397 added containers fit; force trimming with a small limit
    text = render_markdown(diff_plans(stack_plans["production"].to_json(), after.to_json()), limit=4000)
    assert len(text) <= 4000
    assert "more resource(s) left out" in text
    assert text.startswith("### Plan diff: `websys/production`\n\n**397 added, 0 removed")


def test_cli_diff_between_files(tmp_path: Path, stack_plans: dict[str, Plan]) -> None:
    before, after = tmp_path / "before.json", tmp_path / "after.json"
    before.write_text(stack_plans["production"].dumps())
    after.write_text(plan_for("production", sets=["frontend.blue.replicas=3"]).dumps())
    result = run_websys("diff", str(before), str(after))
    assert result.returncode == 0, result.stderr
    assert "- `frontend-blue-3` (docker:index/container:Container)" in result.stdout
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    result = run_websys("diff", str(broken), str(after))
    assert result.returncode == 2
    assert result.stderr.startswith(f"{broken}: not a plan: invalid JSON at line 1")
    assert len(result.stderr.splitlines()) == 1


@pytest.mark.parametrize("stack", ENVIRONMENTS)
def test_committed_snapshots_are_fresh(committed_plans: dict[str, Plan], stack: str) -> None:
    problem = stale_snapshot(snapshot_path(PROJECT_DIR, stack), committed_plans[stack])
    assert problem is None, problem


def test_a_stale_snapshot_names_the_refresh_command(tmp_path: Path, stack_plans: dict[str, Plan]) -> None:
    path = tmp_path / "plans" / "production.json"
    path.parent.mkdir()
    path.write_text(stack_plans["production"].dumps().replace('"replicas"', '"replica_count"', 1) + " ")
    assert stale_snapshot(path, stack_plans["production"]) == (
        "plans/production.json is stale: run `make plans` and commit the result"
    )
    path.write_text(stack_plans["production"].dumps())
    assert stale_snapshot(path, stack_plans["production"]) is None


def _doc(*resources: dict[str, object]) -> dict[str, object]:
    return {"project": "websys", "stack": "test", "resources": list(resources), "outputs": {}}


def _resource(type_token: str, name: str, inputs: dict[str, object], **options: object) -> dict[str, object]:
    return {
        "urn": f"urn:pulumi:test::websys::{type_token}::{name}",
        "type": type_token,
        "name": name,
        "parent": "",
        "provider": "",
        "dependencies": [],
        "inputs": inputs,
        "options": {"ignoreChanges": [], "replaceOnChanges": [], **options},
    }


def test_each_change_is_marked_by_what_the_engine_does() -> None:
    container = "docker:index/container:Container"
    config = "docker:index/serviceConfig:ServiceConfig"
    before = _doc(
        _resource(container, "app", {"name": "app", "image": "sha256:" + "1" * 64, "memory": 256}),
        _resource(container, "web", {"name": "web", "image": "sha256:" + "1" * 64, "memory": 256}),
        _resource(config, "conf", {"name": "conf-1", "dataRaw": "a"}, deleteBeforeReplace=False),
        _resource(config, "conf2", {"name": "conf2-1", "dataRaw": "a"}, deleteBeforeReplaceDefined=True),
    )
    after = _doc(
        _resource(container, "app", {"name": "app", "image": "sha256:" + "2" * 64, "memory": 256}),
        _resource(container, "web", {"name": "web", "image": "sha256:" + "1" * 64, "memory": 512}),
        _resource(config, "conf", {"name": "conf-2", "dataRaw": "b"}),
        _resource(config, "conf2", {"name": "conf2-2", "dataRaw": "b"}, deleteBeforeReplaceDefined=True),
    )
    diff = diff_plans(before, after)
    assert {item.name: item.action for item in diff.changed} == {
        "app": "replace (delete first)",  # ForceNew image; pulumi-docker's Container is delete-before-replace
        "web": "update",  # memory is updated in place
        "conf": "replace (delete first)",  # an explicit name: the bridge deletes first
        "conf2": "replace (create first)",  # ... unless the program says deleteBeforeReplace=false
    }
    text = render_markdown(diff)
    assert "- `app` (docker:index/container:Container) — **replace (delete first)**" in text
    assert "- `conf2` (docker:index/serviceConfig:ServiceConfig) — **replace (create first)**" in text


def test_a_list_that_grows_shows_what_was_added_and_removed() -> None:
    service = "docker:index/service:Service"
    before = _doc(_resource(service, "svc", {"name": "svc", "envs": ["A=1", "B=2", "C=3"]}))
    after = _doc(_resource(service, "svc", {"name": "svc", "envs": ["A=1", "C=3", "D=4", "E=5"]}))
    (item,) = diff_plans(before, after).changed
    assert [(c.path, c.before, c.after) for c in item.changes] == [
        ("inputs.envs", {"removed": ["B=2"]}, {"added": ["D=4", "E=5"]})
    ]
    assert "added" in render_markdown(diff_plans(before, after))
