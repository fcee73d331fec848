"""The deployment files, checked offline in `make test` (issue 15, item 6); the images
and docker-compose.yml themselves run in `make test-deploy` (scripts/test-deploy.sh).

k8s/: the base and both overlays render with kustomize, every rendered object passes
kubernetes-validate --strict (the Kubernetes OpenAPI schemas it ships; ScaledObject, a
KEDA CRD, has none there and is checked here by hand), and the rendered objects keep
their promises: probes on /healthz and /readyz on the port the service listens on,
resources, a locked-down security context, the database URL from the Secret (no Secret
in the manifests), a PodDisruptionBudget and an autoscaler (HPA, or with KEDA a
ScaledObject on the group's lag) per service, NetworkPolicies that select the pods, the
policies ConfigMap up to date with policies/. Dockerfile, .dockerignore and the compose
files: the rules the images and the test override rely on."""
import os
import re
import shutil
import subprocess

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SERVICES = ["ingest", "policy", "enrich", "cluster", "agent", "notify"]
DEPLOYED = SERVICES + ["console"]  # the web console: not in the alert path, deployed the same way
RENDERS = ["base", "overlays/example", "overlays/example-keda"]
K8S_VERSIONS = ["1.30.0", "1.33.0"]


def lib_sh_var(name):
    """A path of scripts/lib.sh (the caches), as the scripts see it."""
    out = subprocess.run(["bash", "-c", f'. "{ROOT}/scripts/lib.sh" && echo "${name}"'],
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


def kustomize_cmd():
    k = lib_sh_var("HUTCH_KUSTOMIZE")
    if os.access(k, os.X_OK):
        return [k, "build"]
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize"]
    pytest.fail(f"no kustomize ({k}) and no kubectl: run scripts/deps.sh")


_rendered = {}


def render(which):
    if which not in _rendered:
        r = subprocess.run(kustomize_cmd() + [os.path.join(ROOT, "k8s", which)],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, f"kustomize k8s/{which} failed: {r.stderr}"
        _rendered[which] = (r.stdout, [d for d in yaml.safe_load_all(r.stdout) if d])
    return _rendered[which]


def objs(which, kind):
    return {o["metadata"]["name"]: o for o in render(which)[1] if o["kind"] == kind}


def container(dep):
    [c] = dep["spec"]["template"]["spec"]["containers"]
    return c


@pytest.mark.parametrize("which", RENDERS)
@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_rendered_manifests_pass_the_kubernetes_schemas(which, version, tmp_path):
    tool = lib_sh_var("HUTCH_K8S_VALIDATE")
    assert os.access(tool, os.X_OK), f"{tool} missing: run scripts/deps.sh"
    text, docs = render(which)
    f = tmp_path / "rendered.yaml"
    f.write_text(text)
    r = subprocess.run([tool, "--strict", "-k", version, str(f)], capture_output=True, text=True, timeout=300)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    passed = re.findall(r"passed for resource (\S+)", out)
    no_schema = re.findall(r"Couldn't find schema for kind (\S+)", out)
    # every object was checked against a schema, except KEDA's CRD (no schema there)
    assert set(no_schema) <= {"ScaledObject"}, out
    assert len(passed) + len(no_schema) == len(docs), out
    assert "ERROR" not in out and "FAILED" not in out.upper().replace("PASSED", ""), out


@pytest.mark.parametrize("which", RENDERS)
def test_deployments_probes_resources_security(which):
    deps = objs(which, "Deployment")
    assert sorted(deps) == sorted(f"hutch-{s}" for s in DEPLOYED)
    for s in DEPLOYED:
        d = deps[f"hutch-{s}"]
        c = container(d)
        assert c["command"] == [f"hutch-{s}"]
        env = {e["name"]: e for e in c.get("env", [])}
        port = int(env[f"HUTCH_{s.upper()}_PORT"]["value"])
        assert c["ports"] == [{"name": "http", "containerPort": port}]
        assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
        assert c["startupProbe"]["httpGet"]["path"] == "/healthz"
        for k in ("requests", "limits"):
            assert set(c["resources"][k]) == {"cpu", "memory"}, (s, c["resources"])
        sc = c["securityContext"]
        assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"]["drop"] == ["ALL"]
        psc = d["spec"]["template"]["spec"]["securityContext"]
        assert psc["runAsNonRoot"] is True and psc["runAsUser"] == 10001
        mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
        assert "/tmp" in mounts, "a read-only root needs a writable /tmp"
        # the secret is referenced, never inlined
        db = env["HUTCH_DATABASE_URL"]
        assert "value" not in db and db["valueFrom"]["secretKeyRef"]["name"] == "hutch"
        [cm] = [e["configMapRef"]["name"] for e in c["envFrom"]]
        assert cm in objs(which, "ConfigMap"), f"{s}: envFrom a ConfigMap that is not rendered ({cm})"
        labels = d["spec"]["template"]["metadata"]["labels"]
        assert labels["app.kubernetes.io/part-of"] == "hutch"
        assert all(labels[k] == v for k, v in d["spec"]["selector"]["matchLabels"].items())
    assert "Secret" not in {o["kind"] for o in render(which)[1]}, "a Secret is inlined in the manifests"
    text = render(which)[0]
    assert not re.search(r"postgres(ql)?://[^:\s]+:[^@\s]+@", text), "a password in the manifests"


@pytest.mark.parametrize("which", RENDERS)
def test_policy_deployment_mounts_the_policies_configmap(which):
    for name in ("hutch-policy", "hutch-console"):  # the console's playground decides as hutch-policy
        d = objs(which, "Deployment")[name]
        vols = {v["name"]: v for v in d["spec"]["template"]["spec"]["volumes"]}
        mounts = {m["name"]: m for m in container(d)["volumeMounts"]}
        assert vols["policies"]["configMap"]["name"] == "hutch-policies"
        assert mounts["policies"]["mountPath"] == "/etc/hutch/policies" and mounts["policies"]["readOnly"]
    cm = objs(which, "ConfigMap")["hutch-policies"]
    assert any(k.endswith(".rego") for k in cm["data"])


def test_k8s_itself_renders_the_base():
    r = subprocess.run(kustomize_cmd() + [os.path.join(ROOT, "k8s")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert [d for d in yaml.safe_load_all(r.stdout) if d] == render("base")[1]


def test_policies_configmap_is_up_to_date():
    r = subprocess.run([os.path.join(ROOT, "scripts", "k8s-policies.sh"), "-"], capture_output=True, text=True,
                       check=True)
    with open(os.path.join(ROOT, "k8s", "base", "configmap-policies.json")) as f:
        committed = f.read()
    assert yaml.safe_load(r.stdout) == yaml.safe_load(committed), \
        "k8s/base/configmap-policies.json is stale: run `make k8s-policies`"
    data = yaml.safe_load(committed)["data"]
    for key, text in data.items():
        assert re.search(r"^package\s", text, re.M), key
        assert not key.endswith("_test.rego")


@pytest.mark.parametrize("which", RENDERS)
def test_a_disruption_budget_per_service(which):
    pdbs = objs(which, "PodDisruptionBudget")
    deps = objs(which, "Deployment")
    for s in DEPLOYED:
        p = pdbs[f"hutch-{s}"]["spec"]
        sel = p["selector"]["matchLabels"]
        labels = deps[f"hutch-{s}"]["spec"]["template"]["metadata"]["labels"]
        assert all(labels.get(k) == v for k, v in sel.items()), (s, sel)
        assert ("minAvailable" in p) != ("maxUnavailable" in p)


@pytest.mark.parametrize("which", ["base", "overlays/example"])
def test_an_hpa_per_service(which):
    hpas = objs(which, "HorizontalPodAutoscaler")
    assert sorted(hpas) == sorted(f"hutch-{s}" for s in DEPLOYED)
    for s in DEPLOYED:
        spec = hpas[f"hutch-{s}"]["spec"]
        assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": f"hutch-{s}"}
        assert 1 <= spec["minReplicas"] <= spec["maxReplicas"] <= 8  # 8 partitions per topic
        assert spec["metrics"][0]["resource"]["name"] == "cpu"
    assert not objs(which, "ScaledObject")


def consumed_topics():
    """{service: topics it subscribes to} from the services' sources: the topics of the
    consumer_input table in each main.c (ingest's come from HUTCH_INGEST_TOPICS, whose
    default is hutch.ingest.json)."""
    with open(os.path.join(ROOT, "common", "topics.h")) as f:
        names = dict(re.findall(r'X\((TOPIC_\w+),\s*"([^"]+)"\)', f.read()))
    out = {}
    for s in SERVICES:
        with open(os.path.join(ROOT, "services", s, "main.c")) as f:
            m = re.search(r"consumer_input inputs\[\]\s*=\s*\{(.*?)\};", f.read(), re.S)
        out[s] = {names[t] for t in re.findall(r"TOPIC_\w+", m.group(1))} if m else {names["TOPIC_INGEST_JSON"]}
    return out


def test_keda_overlay_scales_on_consumer_group_lag():
    which = "overlays/example-keda"
    assert not objs(which, "HorizontalPodAutoscaler"), "KEDA and the CPU HPAs would fight"
    sos = objs(which, "ScaledObject")
    topics = consumed_topics()
    deps = objs(which, "Deployment")
    for s in SERVICES:
        so = sos[f"hutch-{s}"]
        assert so["apiVersion"] == "keda.sh/v1alpha1"
        assert so["metadata"]["namespace"] == "hutch"
        spec = so["spec"]
        assert spec["scaleTargetRef"]["name"] in deps
        assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"] <= 8
        trig = spec["triggers"]
        assert all(t["type"] == "kafka" for t in trig)
        assert {t["metadata"]["consumerGroup"] for t in trig} == {f"hutch-{s}"}
        assert {t["metadata"]["topic"] for t in trig} == topics[s], s
        for t in trig:
            md = t["metadata"]
            assert int(md["lagThreshold"]) > 0
            # the brokers come from the container's environment (the ConfigMap)
            env_from = md["bootstrapServersFromEnv"]
            cm_name = container(deps[f"hutch-{s}"])["envFrom"][0]["configMapRef"]["name"]
            assert env_from in objs(which, "ConfigMap")[cm_name]["data"]
    # the console's processes each read every event (a group of their own): no lag trigger
    assert "hutch-console" not in sos and "hutch-console" in deps


@pytest.mark.parametrize("which", RENDERS)
def test_network_policies_select_the_pods(which):
    nps = objs(which, "NetworkPolicy")
    deps = objs(which, "Deployment")
    deny = nps["hutch-default-deny-ingress"]["spec"]
    assert deny["policyTypes"] == ["Ingress"] and not deny.get("ingress")
    for np in nps.values():
        sel = np["spec"]["podSelector"]["matchLabels"]
        hit = [n for n, d in deps.items()
               if all(d["spec"]["template"]["metadata"]["labels"].get(k) == v for k, v in sel.items())]
        assert hit, f"{np['metadata']['name']} selects no pod"
    ingest = nps["hutch-ingest-http"]["spec"]
    assert [p["port"] for r in ingest["ingress"] for p in r["ports"]] == [8081]
    console = nps["hutch-console-http"]["spec"]
    assert [p["port"] for r in console["ingress"] for p in r["ports"]] == [8090]
    similar = nps["hutch-cluster-similar"]["spec"]
    assert [p["port"] for r in similar["ingress"] for p in r["ports"]] == [8084]
    assert all(r["from"] == [{"podSelector": {}}] for r in similar["ingress"])  # the namespace's pods only
    services = objs(which, "Service")
    assert sorted(services) == ["hutch-cluster", "hutch-console", "hutch-ingest"]
    for name, svc in services.items():
        assert svc["spec"]["selector"] == {"app.kubernetes.io/name": name}
        assert svc["spec"]["ports"][0]["targetPort"] == "http"
    egress_ports = {p["port"] for r in nps["hutch-egress"]["spec"]["egress"] for p in r["ports"]}
    assert {53, 9092, 5432, 443} <= egress_ports


def test_example_overlay_settings():
    which = "overlays/example"
    for o in render(which)[1]:
        if o["kind"] != "Namespace":
            assert o["metadata"].get("namespace") == "hutch", o["metadata"]["name"]
    for d in objs(which, "Deployment").values():
        assert container(d)["image"] == "registry.example.com/security/hutch:1.0.0"
    [cfg] = [c for n, c in objs(which, "ConfigMap").items() if n.startswith("hutch-config")]
    assert cfg["data"]["HUTCH_KAFKA_BROKERS"] == "kafka-bootstrap.kafka.svc:9092"
    assert objs(which, "Deployment")["hutch-ingest"]["spec"]["replicas"] == 3


# --- Dockerfiles and compose ------------------------------------------------------------

def read(*p):
    with open(os.path.join(ROOT, *p)) as f:
        return f.read()


def deps_packages():
    m = re.search(r"^PKGS=\(([^)]*)\)", read("scripts", "deps.sh"), re.M)
    return m.group(1).split()


def test_dockerfile_build_stage_has_every_dev_package_of_deps():
    text = read("Dockerfile")
    stages = re.split(r"^FROM ", text, flags=re.M)[1:]
    assert len(stages) >= 2, "multi-stage"
    build = stages[0]
    test_only = {"libcmocka-dev"}   # unit tests are not built in the image
    wanted = {p for p in deps_packages() if p.endswith("-dev") and not p.startswith("libclang")} - test_only
    wanted |= {"build-essential", "pkg-config", "protobuf-c-compiler"}
    missing = {p for p in wanted if not re.search(rf"(?<![\w.-]){re.escape(p)}(?![\w.-])", build)}
    assert not missing, f"the Dockerfile's build stage lacks {sorted(missing)} (scripts/deps.sh has them)"


def test_dockerfiles_run_unprivileged_with_a_healthcheck():
    for f in ["Dockerfile", "deploy/postgres/Dockerfile", "deploy/kafka/Dockerfile"]:
        text = read(f)
        last = re.split(r"^FROM ", text, flags=re.M)[-1]
        user = re.findall(r"^USER\s+(\S+)", last, re.M)
        assert user and user[-1].split(":")[0] not in ("root", "0"), f"{f}: runs as root"
        assert re.search(r"^HEALTHCHECK\s", last, re.M), f"{f}: no HEALTHCHECK"
        assert re.search(r"^ARG BASE=", text, re.M), f"{f}: the base image is not a build argument"
    assert "libpsl-dev" in read("Dockerfile")


def test_image_has_the_console_and_its_static_files():
    text = read("Dockerfile")
    build, runtime = re.split(r"^FROM ", text, flags=re.M)[1:3]
    for p in DEPLOYED:
        assert f"build/release/bin/hutch-{p}" in build, f"the image does not build hutch-{p}"
    m = re.search(r"^COPY services/console/web/ (\S+)$", runtime, re.M)
    assert m, "the console's static files are not in the image"
    assert re.search(rf"^ENV .*\bHUTCH_CONSOLE_WEB_DIR={re.escape(m.group(1).rstrip('/'))}\b", runtime, re.M)
    assert os.path.isfile(os.path.join(ROOT, "services", "console", "web", "index.html"))


def test_dockerignore_keeps_build_state_and_history_out():
    lines = {l.strip() for l in read(".dockerignore").splitlines() if l.strip() and not l.startswith("#")}
    assert {".git", "build", ".hutch", "deploy/kafka/libs"} <= lines


def compose(*files):
    env = dict(os.environ)
    for i, v in enumerate(["PG", "KAFKA", "KAFKA_CONTROLLER", "INGEST", "POLICY", "ENRICH", "CLUSTER", "AGENT",
                           "NOTIFY", "CONSOLE"]):
        env[f"HUTCH_DEPLOY_{v}_PORT"] = str(41000 + i)
    args = ["docker-compose", "--project-directory", ROOT]
    for f in files:
        args += ["-f", os.path.join(ROOT, f)]
    r = subprocess.run(args + ["config"], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    return yaml.safe_load(r.stdout)


@pytest.mark.skipif(not shutil.which("docker-compose"), reason="docker-compose missing: run scripts/deps.sh")
def test_compose_files():
    user = compose("docker-compose.yml", "docker-compose.override.yml")
    svcs = user["services"]
    assert set(svcs) == set(DEPLOYED) | {"postgres", "kafka"}
    assert svcs["ingest"]["ports"], "users reach ingest on a published port"
    assert svcs["console"]["ports"], "people reach the web console on a published port"
    pg = svcs["postgres"]
    assert "fsync" not in repr(pg) and "synchronous_commit" not in repr(pg), "Postgres keeps its durable defaults"
    assert "volumes" in pg and "volumes" in svcs["kafka"]
    for s in DEPLOYED:
        assert svcs[s]["read_only"] is True and svcs[s]["image"] == "hutch:latest"
        assert svcs[s]["command"] == [f"hutch-{s}"]

    test = compose("docker-compose.yml", "deploy/compose.test.yml")
    for name, s in test["services"].items():
        assert s["network_mode"] == "host", name
        assert "ports" not in s, f"{name}: docker-compose 1.x refuses ports with network_mode: host"
        assert not s.get("networks"), name
        for v in (s.get("environment") or {}).values():
            assert not re.search(r"\b(172|10|192\.168)\.\d+\.\d+", str(v)), f"{name}: {v}"
    for s in DEPLOYED:
        env = test["services"][s]["environment"]
        assert env["HUTCH_HTTP_ADDR"] == "127.0.0.1"
        assert env["HUTCH_KAFKA_BROKERS"].startswith("127.0.0.1:")
        assert "@127.0.0.1:" in env["HUTCH_DATABASE_URL"]
    assert test["services"]["kafka"]["environment"]["KAFKA_LISTEN_HOST"] == "127.0.0.1"
    assert test["services"]["postgres"]["environment"]["POSTGRES_LISTEN"] == "127.0.0.1"
