"""Cloud Custodian's side of the bench, its pure parts: the policies it runs, the environment it runs in, how its
runs are measured. Custodian itself is not installed here (tools/bench/custodian.py builds build/c7n for the bench);
a stand-in ``custodian`` executable plays its part where a run is needed."""

from __future__ import annotations

import json
import os
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from tools.bench import custodian as bench
from tools.bench import scale

NOT_PROD = {"not": [{"type": "value", "key": "tag:environment", "op": "in", "value": ["prod", "production"]}]}
GUARDS = [
    {"tag:finops:protect": "absent"},
    NOT_PROD,
    {"type": "value", "key": "Tags[?starts_with(Key, 'aws:backup:')]", "value_type": "size", "value": 0},
    {"type": "value", "key": "Tags[?starts_with(Key, 'aws:dlm:')]", "value_type": "size", "value": 0},
]


def _loaded(name: str, tmp_path: Path, **ages: float) -> list[dict[str, object]]:
    """The policies of bench policy ``name`` as Custodian reads them: from the yaml file the bench writes."""
    policies = yaml.safe_load(bench.write_policy_file([name], tmp_path, **ages).read_text())["policies"]
    assert isinstance(policies, list)
    return policies


@pytest.mark.parametrize(
    ("name", "resources", "actions"),
    [
        ("ebs-unattached-delete", ["aws.ebs"], [["delete"]]),
        ("ebs-snapshot-and-delete", ["aws.ebs"], [[{"type": "snapshot"}, "delete"]]),
        ("ebs-old-snapshot-delete", ["aws.ebs-snapshot"], [["delete"]]),
        ("ec2-nonprod-stop", ["aws.ec2"], [["stop"]]),
        ("tag-compliance-report", ["aws.ec2", "aws.ebs"], [[], []]),
    ],
)
def test_each_policy_file_names_its_resources_and_actions(name, resources, actions, tmp_path):
    policies = _loaded(name, tmp_path)

    assert [p["resource"] for p in policies] == resources
    assert [p.get("actions", []) for p in policies] == actions
    assert all(str(p["name"]).startswith(name) for p in policies)
    assert len({p["name"] for p in policies}) == len(policies)  # Custodian refuses a file with a name twice


@pytest.mark.parametrize("name", ["ebs-unattached-delete", "ebs-snapshot-and-delete"])
def test_volume_policies_take_only_old_unattached_unguarded_volumes(name, tmp_path):
    filters = _loaded(name, tmp_path, volume_min_age_days=7)[0]["filters"]

    assert filters == [
        {"State": "available"},
        {"Attachments": []},
        *GUARDS,
        {"type": "value", "key": "CreateTime", "value_type": "age", "op": "gt", "value": 7},
    ]


def test_old_snapshot_policy_skips_ami_snapshots_and_guarded_ones(tmp_path):
    filters = _loaded("ebs-old-snapshot-delete", tmp_path, snapshot_min_age_days=30)[0]["filters"]

    assert filters == [
        {"type": "age", "days": 30, "op": "gt"},  # SnapshotAge, c7n's filter on StartTime
        {"type": "skip-ami-snapshots", "value": True},
        *GUARDS,
    ]


def test_the_ages_are_the_callers_so_a_fresh_moto_estate_can_be_run_at_zero_days(tmp_path):
    volumes = _loaded("ebs-unattached-delete", tmp_path, volume_min_age_days=0)[0]["filters"]
    snapshots = _loaded("ebs-old-snapshot-delete", tmp_path, snapshot_min_age_days=0)[0]["filters"]

    assert volumes[-1]["value"] == 0
    assert snapshots[0]["days"] == 0


def test_stop_policy_takes_running_non_prod_unprotected_instances_on_the_schedule(tmp_path):
    assert _loaded("ec2-nonprod-stop", tmp_path)[0]["filters"] == [
        {"State.Name": "running"},
        {"tag:schedule": "office-hours"},
        NOT_PROD,
        {"tag:finops:protect": "absent"},
    ]


def test_tag_compliance_reports_anything_missing_one_required_tag(tmp_path):
    for policy in _loaded("tag-compliance-report", tmp_path):
        assert policy["filters"] == [
            {"or": [{"tag:team": "absent"}, {"tag:environment": "absent"}, {"tag:cost-center": "absent"}]}
        ]


def test_the_tags_are_the_shipped_configs(config):
    safety = config.safety
    assert safety.environment_tag_key == bench.ENVIRONMENT_TAG
    assert set(bench.PROD_VALUES) == set(safety.prod_values)
    assert safety.protect_tag.key == bench.PROTECT_TAG
    assert set(bench.REQUIRED_TAGS) == {rule.key for rule in config.taxonomy.tags if rule.required}
    assert config.capabilities.scheduler.tag_key == bench.SCHEDULE_TAG


def test_several_policies_go_in_one_file_headed_by_what_each_lacks(tmp_path):
    path = bench.write_policy_file(["ebs-snapshot-and-delete", "ebs-old-snapshot-delete"], tmp_path)

    policies = yaml.safe_load(path.read_text())["policies"]
    assert [p["name"] for p in policies] == ["ebs-snapshot-and-delete", "ebs-old-snapshot-delete"]
    assert "# ebs-old-snapshot-delete lacks: no sharing check" in path.read_text()
    assert "# ebs-snapshot-and-delete lacks: no re-check" in path.read_text()
    assert all(bench.LACKS[name] for name in bench.POLICIES)


def test_an_unknown_policy_is_refused():
    with pytest.raises(ValueError, match="no bench policy 'ebs-delete-everything'"):
        bench.policy_documents("ebs-delete-everything")


def test_requirements_pin_c7n_and_every_dependency_exactly():
    lines = [line for line in bench.REQUIREMENTS.read_text().splitlines() if line.strip() and not line.startswith("#")]

    assert "c7n==0.9.53" in lines
    assert all("==" in line and not any(c in line for c in "<>~*") for line in lines), lines
    assert any(line.startswith("boto3==") for line in lines)


def test_the_venv_is_reused_while_its_requirements_stay_the_same(tmp_path, monkeypatch):
    venv = tmp_path / "build" / "c7n"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "custodian").touch()
    (venv / bench.requirements_stamp()).touch()
    monkeypatch.setattr(bench.subprocess, "run", lambda *a, **k: pytest.fail(f"installed again: {a}"))

    assert bench.ensure_venv(tmp_path) == venv / "bin" / "custodian"


def test_the_stamp_follows_the_requirements(tmp_path):
    one, two = tmp_path / "one.txt", tmp_path / "two.txt"
    one.write_text("c7n==0.9.53\n")
    two.write_text("c7n==0.9.54\n")

    assert bench.requirements_stamp(one) != bench.requirements_stamp(two)


# ---- a run, with a stand-in for custodian ---------------------------------------------------------------------------

# Records the environment it was started with as the kernel handed it over (/proc/self/environ: before the
# interpreter's own locale coercion can add LC_CTYPE), then writes what `custodian run -s OUT FILE` would:
# OUT/<policy>/resources.json per policy in FILE, two resources each (ids named by the policy's resource), and fails
# when asked to.
FAKE_CUSTODIAN = """\
#!{python}
import json, pathlib, sys
raw = pathlib.Path("/proc/self/environ").read_bytes().split(b"\\0")
env = dict(item.decode().split("=", 1) for item in raw if item)
args = sys.argv[1:]
out = pathlib.Path(args[args.index("-s") + 1])
out.mkdir(parents=True, exist_ok=True)
(out.parent / "env.json").write_text(json.dumps(env))
(out.parent / "argv.json").write_text(json.dumps(args))
import yaml
for policy in yaml.safe_load(pathlib.Path(args[-1]).read_text())["policies"]:
    key, prefix = {{"aws.ec2": ("InstanceId", "i-"), "aws.ebs": ("VolumeId", "vol-")}}[policy["resource"]]
    (out / policy["name"]).mkdir()
    found = [{{"VolumeId": "vol-of-" + str(n), key: prefix + str(n)}} for n in (1, 2)]
    (out / policy["name"] / "resources.json").write_text(json.dumps(found))
print("custodian.policy:INFO done", file=sys.stderr)
sys.exit(int(env.get("FAKE_EXIT", "0")))
"""


@pytest.fixture
def fake_custodian(tmp_path: Path) -> Path:
    path = tmp_path / "bin" / "custodian"
    path.parent.mkdir()
    path.write_text(FAKE_CUSTODIAN.format(python=sys.executable))
    path.chmod(0o755)
    return path


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="reads the child's environment from /proc")
def test_the_child_gets_no_variable_of_ours_but_path(fake_custodian, tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_PROFILE", "production-admin")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "a-real-token")
    monkeypatch.setenv("PYTHONPATH", "/somewhere/else")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    workdir = tmp_path / "run"

    bench.run_policy(
        fake_custodian, "ebs-unattached-delete", endpoint="http://127.0.0.1:5123", region="eu-west-1", workdir=workdir
    )

    env = json.loads((workdir / "env.json").read_text())
    assert env["PATH"] == os.environ["PATH"]
    assert set(env) == {
        "PATH",
        "HOME",
        "AWS_ENDPOINT_URL",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_DEFAULT_REGION",
        "AWS_REGION",
        "AWS_CONFIG_FILE",
        "AWS_SHARED_CREDENTIALS_FILE",
        "AWS_EC2_METADATA_DISABLED",
    }
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:5123"
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "eu-west-1"
    assert env["HOME"] == str(workdir)
    assert not Path(env["AWS_CONFIG_FILE"]).exists()
    assert not Path(env["AWS_SHARED_CREDENTIALS_FILE"]).exists()


def test_a_run_reads_back_what_each_custodian_policy_matched(fake_custodian, tmp_path):
    workdir = tmp_path / "run"

    result = bench.run_policy(
        fake_custodian, "tag-compliance-report", endpoint="http://127.0.0.1:5123", region="eu-west-1", workdir=workdir
    )

    assert result["policy"] == "tag-compliance-report"
    assert result["per_custodian_policy"] == {"tag-compliance-report-ec2": 2, "tag-compliance-report-ebs": 2}
    assert result["resources_matched"] == 4
    assert result["matched_ids"] == ["i-1", "i-2", "vol-1", "vol-2"]  # the instance's id, not a VolumeId it names
    assert result["returncode"] == 0
    assert "custodian.policy:INFO done" in result["stderr_tail"]
    argv = json.loads((workdir / "argv.json").read_text())
    assert argv == [
        "run",
        "--region",
        "eu-west-1",
        "-s",
        str(workdir / "out"),
        str(workdir / "tag-compliance-report.yml"),
    ]


def test_a_member_account_is_reached_through_its_role(fake_custodian, tmp_path):
    role = "arn:aws:iam::111122223333:role/BenchFinOpsRole"

    bench.run_policy(
        fake_custodian,
        ["ebs-snapshot-and-delete", "ec2-nonprod-stop"],
        endpoint="http://127.0.0.1:5123",
        region="eu-west-1",
        workdir=tmp_path,
        assume_role=role,
    )

    argv = json.loads((tmp_path / "argv.json").read_text())
    assert argv[argv.index("--assume") + 1] == role
    assert argv[-1] == str(tmp_path / "ebs-snapshot-and-delete+ec2-nonprod-stop.yml")


def test_a_failed_run_says_so_and_what_it_did_not_write_counts_as_unknown(fake_custodian, tmp_path):
    result = bench.run_policy(
        fake_custodian,
        "ec2-nonprod-stop",
        endpoint="http://127.0.0.1:5123",
        region="eu-west-1",
        workdir=tmp_path / "run",
        env_extra={"FAKE_EXIT": "3"},
    )

    assert result["returncode"] == 3
    never_ran = {"name": "never-ran", "resource": "aws.ebs"}
    assert bench.matched(tmp_path / "run" / "out", [*bench.policy_documents("ec2-nonprod-stop"), never_ran]) == {
        "ec2-nonprod-stop": ["i-1", "i-2"],
        "never-ran": None,
    }


# ---- the measurement ------------------------------------------------------------------------------------------------


def _measure(code: str, tmp_path: Path) -> dict[str, Any]:
    return scale.measured_run([sys.executable, "-c", code], env={"PATH": os.defpath}, cwd=tmp_path)


def test_a_trivial_child_is_measured(tmp_path):
    result = _measure("pass", tmp_path)

    assert result["returncode"] == 0
    assert 0 < result["cpu_seconds"] < 2
    assert 1 < result["max_rss_mib"] < 200
    assert result["wall_seconds"] > 0


def test_cpu_is_the_childs_work_and_wall_includes_its_waiting(tmp_path):
    busy = _measure("import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass", tmp_path)
    idle = _measure("import time; time.sleep(0.3)", tmp_path)

    assert busy["cpu_seconds"] >= 0.3
    assert idle["wall_seconds"] >= 0.3
    assert idle["cpu_seconds"] < 0.2


def test_peak_memory_is_the_childs_own_however_large_the_bench_is(tmp_path):
    held = bytearray(300 * 1024 * 1024)  # the bench holding a large estate: a fork of it would start at 300 MiB
    held[::4096] = b"x" * len(held[::4096])  # touched, so resident
    small = _measure("pass", tmp_path)
    large = _measure("block = bytearray(200 * 1024 * 1024)", tmp_path)

    assert small["max_rss_mib"] < 100
    assert large["max_rss_mib"] - small["max_rss_mib"] >= 190
    del held


def test_a_program_that_cannot_start_is_an_error_not_a_measurement(tmp_path):
    with pytest.raises(RuntimeError, match="could not run /nonexistent/custodian"):
        scale.measured_run(["/nonexistent/custodian"], env={"PATH": os.defpath}, cwd=tmp_path)


def test_a_failing_child_gives_its_exit_code_and_the_end_of_its_stderr(tmp_path):
    code = textwrap.dedent("""\
        import sys
        sys.stderr.write("x" * 5000 + "the reason at the end")
        sys.exit(7)
    """)

    result = _measure(code, tmp_path)

    assert result["returncode"] == 7
    assert str(result["stderr_tail"]).endswith("the reason at the end")
    assert len(str(result["stderr_tail"])) == scale.STDERR_TAIL_CHARS
