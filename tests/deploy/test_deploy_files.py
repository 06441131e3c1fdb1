"""Issue 19: CI checks every file under deploy/ with the tool made for it (offline).

A missing tool fails the test (it is a test dependency), it never skips: a green run
means the files were checked.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import jsonschema
import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
SCHEMAS = Path(__file__).resolve().parent / "schemas"


def _tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    assert found, f"{name} is not installed (pip install -e '.[test]')"
    return found


def test_the_dockerfile_passes_hadolint():
    done = subprocess.run(
        [_tool("hadolint"), "--failure-threshold", "info", str(DEPLOY / "Dockerfile")],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_shell_scripts_pass_shellcheck():
    scripts = sorted(DEPLOY.rglob("*.sh"))
    assert len(scripts) >= 5  # backup, restore and their library; the compose helpers
    for script in scripts:  # -x follows what a script sources, from the script's own directory
        done = subprocess.run(
            [_tool("shellcheck"), "-x", "--severity=style", script.name],
            cwd=script.parent,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stdout + done.stderr


def test_the_dockerfile_is_multi_stage_non_root_with_a_readiness_check():
    text = (DEPLOY / "Dockerfile").read_text()
    final = text.rsplit("\nFROM ", 1)[1]
    assert text.count("\nFROM ") == 2 and "-slim" in final.splitlines()[0]
    assert "USER 10001" in final and "/readyz" in final.split("HEALTHCHECK", 1)[1]
    assert 'ENTRYPOINT ["piivault"]' in final and '"serve"' in final
    assert "gcc" not in final and "build-essential" not in final
    # Issue 21: the PDF copy's printer, Debian's Chromium with CJK fonts, installed as root before
    # USER, nothing recommended, no apt lists left; Playwright comes with the [pdf] extra.
    (apt,) = [run for run in final.split("\nRUN ")[1:] if "apt-get" in run]
    assert "--no-install-recommends chromium fonts-noto-cjk" in apt and "rm -rf /var/lib/apt/lists/*" in apt
    assert final.index("apt-get") < final.index("USER 10001")
    assert '"/src[pdf]"' in text
    # Every package the wheel is built from is in the build stage (identity/ was not).
    project = tomllib.loads((DEPLOY.parent / "pyproject.toml").read_text())
    for package in project["tool"]["setuptools"]["packages"]["find"]["include"]:
        assert f"COPY {package.rstrip('*')} ./{package.rstrip('*')}\n" in text, package


def test_compose_file_is_valid_against_the_compose_specification():
    schema = json.loads((SCHEMAS / "compose-spec.json").read_text())
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    errors = [f"{e.json_path}: {e.message}" for e in jsonschema.Draft7Validator(schema).iter_errors(compose)]
    assert errors == []
    declared = compose["services"]
    assert {"app", "postgres", "openbao", "sequencer", "jobs", "extract-worker"} <= set(declared)
    assert "server" in declared["openbao"]["command"]  # not dev mode
    assert declared["sequencer"]["command"] == ["audit", "sequence", "--loop"]
    for name, service in declared.items():
        env = service.get("environment", {})
        secrets_in_env = [k for k in env if k.endswith(("_TOKEN", "_SECRET_ID", "_PASSWORD", "DATABASE_URL"))]
        assert secrets_in_env == [], f"{name}: secrets belong in files ({secrets_in_env})"
    for secret in compose["secrets"].values():
        assert secret["file"].startswith("./compose/secrets/")


def test_the_compose_openbao_config_uses_persistent_storage():
    text = (DEPLOY / "compose" / "openbao.hcl").read_text()
    assert 'storage "raft"' in text or 'storage "file"' in text


def test_the_alert_rules_pass_promtool():
    promtool = shutil.which("promtool")
    assert promtool, "promtool is not installed (Debian's prometheus package; .ci/run installs it)"
    done = subprocess.run(
        [promtool, "check", "rules", str(DEPLOY / "prometheus" / "rules.yml")], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_kubernetes_base_validates_against_the_offline_schemas():
    base = DEPLOY / "kubernetes" / "base"
    files = [
        str(base / name) for name in yaml.safe_load((base / "kustomization.yaml").read_text())["resources"]
    ]
    done = subprocess.run(
        [_tool("kubernetes-validate"), "-k", "1.30.0", "--strict", *files], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    docs = [doc for f in files for doc in yaml.safe_load_all(Path(f).read_text())]
    kinds = {doc["kind"] for doc in docs}
    assert {"piivault-sequencer", "piivault-extract-worker", "piivault-jobs"} <= {
        d["metadata"]["name"] for d in docs
    }
    assert {
        "Deployment",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "CronJob",
        "NetworkPolicy",
    } <= kinds


def _pod_specs(docs: list[dict]) -> list[dict]:
    specs = [d["spec"]["template"]["spec"] for d in docs if d["kind"] == "Deployment"]
    return specs + [
        d["spec"]["jobTemplate"]["spec"]["template"]["spec"] for d in docs if d["kind"] == "CronJob"
    ]


def test_every_pod_logs_in_to_openbao_with_a_projected_token_and_holds_no_vault_secret():
    base = DEPLOY / "kubernetes" / "base"
    specs = _pod_specs(_render_kustomize_base(base))
    assert len(specs) == 5
    for spec in specs:
        assert spec["serviceAccountName"] == "piivault" and spec["automountServiceAccountToken"] is False
        (projected,) = [v["projected"] for v in spec["volumes"] if "projected" in v]
        (source,) = projected["sources"]
        assert source["serviceAccountToken"]["audience"] == "openbao"
        for container in spec["containers"]:
            env = {e["name"]: e["value"] for e in container["env"]}
            assert env["PIIVAULT_VAULT_AUTH"] == "jwt" and env["PIIVAULT_VAULT_JWT_ROLE"] == "piivault-app"
            assert not {k for k in env if "SECRET_ID" in k or "VAULT_TOKEN" in k}
            mounts = {m["mountPath"] for m in container["volumeMounts"]}
            assert "/var/run/secrets/openbao" in mounts  # PIIVAULT_VAULT_JWT_FILE's default directory


def _checkov() -> str:
    # Its own virtual environment beside the test one (deploy/checkov-requirements.txt says why).
    found = Path(sys.executable).parent.parent / "checkov" / "bin" / "checkov"
    assert found.is_file(), "checkov is not installed (make installs it in .venv/checkov)"
    return str(found)


def _render_kustomize_base(base: Path) -> list[dict]:
    """What `kubectl kustomize` makes of the base: its resources, in its namespace."""
    kustomization = yaml.safe_load((base / "kustomization.yaml").read_text())
    assert set(kustomization) <= {"apiVersion", "kind", "namespace", "resources"}, "render more than this"
    files = [base / name for name in kustomization["resources"]]
    docs = [doc for path in files for doc in yaml.safe_load_all(path.read_text())]
    for doc in docs:
        doc["metadata"]["namespace"] = kustomization["namespace"]
    return docs


def test_checkov_finds_nothing_in_the_rendered_manifests_and_the_dockerfile(tmp_path):
    rendered = _render_kustomize_base(DEPLOY / "kubernetes" / "base")
    (tmp_path / "rendered.yaml").write_text(yaml.safe_dump_all(rendered))
    shutil.copy(DEPLOY / "Dockerfile", tmp_path / "Dockerfile")
    # Offline: no version check, no rule download; as root, in a namespace with no network at all.
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true"}
    env |= {"BC_SKIP_MAPPING": "TRUE", "CKV_CACHE_DIR": str(tmp_path / "cache")}
    isolate = ["unshare", "--net"] if os.geteuid() == 0 and shutil.which("unshare") else []
    command = [_checkov(), "--skip-download", "-o", "json", "-d", str(tmp_path), "--framework"]
    done = subprocess.run(
        [*isolate, *command, "kubernetes", "dockerfile"], capture_output=True, text=True, env=env
    )
    reports = {report["check_type"]: report for report in json.loads(done.stdout)}
    assert set(reports) == {"kubernetes", "dockerfile"}, done.stderr
    failed = [
        f"{c['check_id']} {c['resource']}" for r in reports.values() for c in r["results"]["failed_checks"]
    ]
    assert failed == [] and done.returncode == 0
    assert all(r["summary"]["passed"] > 50 for r in reports.values())
    # Every skip is one written in the manifests, with its reason.
    skipped = reports["kubernetes"]["results"]["skipped_checks"]
    assert {c["check_id"] for c in skipped} == {"CKV_K8S_8", "CKV_K8S_9", "CKV_K8S_43"}
    assert all(len(c["check_result"]["suppress_comment"]) > 20 for c in skipped)
