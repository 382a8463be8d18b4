# deploy/k8s: every object parsed with a real YAML parser (python3-yaml) and checked against the
# Kubernetes field names of its kind (the subset these objects use; an unknown field fails), the
# security and availability settings the README promises, the references between objects, and
# the keyward config in the ConfigMap validated by `keyward check` with its files in place.
# No schema validator (kubeconform, kubeval) is packaged for Debian 12, so this is the check.
#   /usr/bin/python3 k8s_manifests_test.py KEYWARD_BIN DEPLOY_K8S_DIR
import glob
import os
import re
import subprocess
import sys
import tempfile

import yaml

keyward, root = sys.argv[1], sys.argv[2]
failures = []


def fail(msg):
    failures.append(msg)


# Field names per object path, from the Kubernetes API reference (v1.29) for the kinds used.
FIELDS = {
    "object": {"apiVersion", "kind", "metadata", "spec", "data", "stringData", "type", "labels",
               "resources"},
    "metadata": {"name", "namespace", "labels", "annotations"},
    "Deployment.spec": {"replicas", "revisionHistoryLimit", "selector", "strategy", "template",
                        "minReadySeconds", "progressDeadlineSeconds"},
    "strategy": {"type", "rollingUpdate"},
    "rollingUpdate": {"maxUnavailable", "maxSurge"},
    "selector": {"matchLabels", "matchExpressions"},
    "template": {"metadata", "spec"},
    "PodSpec": {"terminationGracePeriodSeconds", "automountServiceAccountToken", "securityContext",
                "topologySpreadConstraints", "containers", "volumes", "serviceAccountName",
                "affinity", "nodeSelector", "tolerations"},
    "PodSecurityContext": {"runAsNonRoot", "runAsUser", "runAsGroup", "fsGroup", "seccompProfile"},
    "Container": {"name", "image", "imagePullPolicy", "args", "command", "ports",
                  "securityContext", "livenessProbe", "readinessProbe", "startupProbe",
                  "lifecycle", "resources", "volumeMounts", "env"},
    "ContainerPort": {"name", "containerPort", "protocol"},
    "SecurityContext": {"allowPrivilegeEscalation", "readOnlyRootFilesystem", "privileged",
                        "capabilities", "runAsNonRoot"},
    "Probe": {"httpGet", "periodSeconds", "failureThreshold", "initialDelaySeconds",
              "timeoutSeconds", "successThreshold"},
    "VolumeMount": {"name", "mountPath", "subPath", "readOnly"},
    "Volume": {"name", "configMap", "secret", "emptyDir"},
    "Service.spec": {"type", "selector", "ports"},
    "ServicePort": {"name", "port", "targetPort", "protocol"},
    "PodDisruptionBudget.spec": {"minAvailable", "maxUnavailable", "selector"},
    "NetworkPolicy.spec": {"podSelector", "policyTypes", "ingress", "egress"},
    "NetworkPolicyRule": {"from", "to", "ports"},
    "NetworkPolicyPort": {"port", "protocol"},
}
API = {"Deployment": "apps/v1", "Service": "v1", "ConfigMap": "v1", "Secret": "v1",
       "PodDisruptionBudget": "policy/v1", "NetworkPolicy": "networking.k8s.io/v1",
       "Kustomization": "kustomize.config.k8s.io/v1beta1"}


def fields(obj, kind, where):
    if not isinstance(obj, dict):
        fail(f"{where}: expected a map for {kind}")
        return {}
    for k in obj:
        if k not in FIELDS[kind]:
            fail(f"{where}: unknown field {k!r} in {kind}")
    return obj


docs = {}
files = sorted(glob.glob(os.path.join(root, "*.yaml")))
for path in files:
    with open(path) as f:
        for doc in yaml.safe_load_all(f):
            if doc is None:
                continue
            kind = doc.get("kind")
            where = f"{os.path.basename(path)}:{kind}/{doc.get('metadata', {}).get('name')}"
            fields(doc, "object", where)
            if API.get(kind) != doc.get("apiVersion"):
                fail(f"{where}: apiVersion {doc.get('apiVersion')} for {kind}")
            if kind != "Kustomization":
                fields(doc.get("metadata"), "metadata", where)
            docs.setdefault(kind, {})[doc.get("metadata", {}).get("name")] = (doc, where)

for kind in ("Deployment", "Service", "ConfigMap", "Secret", "PodDisruptionBudget", "NetworkPolicy"):
    if kind not in docs:
        fail(f"no {kind}")

kust = next(iter(docs.get("Kustomization", {}).values()))[0]
listed = set(kust.get("resources", []))
for path in files:
    name = os.path.basename(path)
    if name != "kustomization.yaml" and name not in listed:
        fail(f"kustomization.yaml does not list {name}")

dep, dw = docs["Deployment"]["keyward"]
spec = fields(dep["spec"], "Deployment.spec", dw)
fields(spec["strategy"], "strategy", dw)
fields(spec["strategy"].get("rollingUpdate", {}), "rollingUpdate", dw)
labels = spec["template"]["metadata"]["labels"]
if spec["replicas"] != 2:
    fail(f"{dw}: replicas {spec['replicas']}, expected 2")
if spec["selector"]["matchLabels"] != labels:
    fail(f"{dw}: selector does not match the pod labels")
pod = fields(spec["template"]["spec"], "PodSpec", dw)
psc = fields(pod["securityContext"], "PodSecurityContext", dw)
if psc.get("runAsNonRoot") is not True or psc.get("runAsUser", 0) == 0:
    fail(f"{dw}: the pod must run as a non-root user")
if pod.get("automountServiceAccountToken") is not False:
    fail(f"{dw}: keyward needs no Kubernetes API token")
(container,) = pod["containers"]
fields(container, "Container", dw)
csc = fields(container["securityContext"], "SecurityContext", dw)
if csc.get("readOnlyRootFilesystem") is not True:
    fail(f"{dw}: readOnlyRootFilesystem must be true")
if csc.get("allowPrivilegeEscalation") is not False:
    fail(f"{dw}: allowPrivilegeEscalation must be false")
if csc.get("capabilities", {}).get("drop") != ["ALL"]:
    fail(f"{dw}: capabilities must drop ALL")
if "env" in container:
    fail(f"{dw}: secrets are mounted as files, not passed in the environment")
ports = {}
for p in container["ports"]:
    fields(p, "ContainerPort", dw)
    ports[p["name"]] = p["containerPort"]
if ports != {"https": 8443, "admin": 9091}:
    fail(f"{dw}: ports {ports}")
for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
    pr = fields(container[probe], "Probe", dw)
    if pr["httpGet"].get("path") != path or pr["httpGet"].get("port") != "admin":
        fail(f"{dw}: {probe} must GET {path} on the admin port")
# SIGTERM: keyward drains for up to 25 s, after the preStop sleep.
sleep = container["lifecycle"]["preStop"]["exec"]["command"]
grace = pod["terminationGracePeriodSeconds"]
if not (sleep[0] == "/bin/sleep" and grace > 25 + int(sleep[1])):
    fail(f"{dw}: terminationGracePeriodSeconds {grace} must exceed the preStop sleep + 25 s drain")
if "memory" not in container["resources"].get("limits", {}):
    fail(f"{dw}: a memory limit is expected")
volumes = {}
for v in pod["volumes"]:
    fields(v, "Volume", dw)
    volumes[v["name"]] = v
for m in container["volumeMounts"]:
    fields(m, "VolumeMount", dw)
    if m["name"] not in volumes:
        fail(f"{dw}: mount of an undefined volume {m['name']}")
    # Every mount is read-only but the audit log's emptyDir (checked below).
    if m.get("readOnly") is not True and "emptyDir" not in volumes[m["name"]]:
        fail(f"{dw}: mount {m['name']} must be read-only")
    if "subPath" in m and "configMap" in volumes.get(m["name"], {}):
        fail(f"{dw}: a subPath ConfigMap mount never sees edits")
for name, v in volumes.items():
    if "secret" in v:
        if v["secret"]["secretName"] not in docs["Secret"]:
            fail(f"{dw}: volume {name} names a missing Secret")
        if v["secret"].get("defaultMode") != 0o400:
            fail(f"{dw}: secret volume {name} must be mode 0400")
    if "configMap" in v and v["configMap"]["name"] not in docs["ConfigMap"]:
        fail(f"{dw}: volume {name} names a missing ConfigMap")
config_path = container["args"][container["args"].index("--config") + 1]

for name, (svc, sw) in docs["Service"].items():
    s = fields(svc["spec"], "Service.spec", sw)
    if s["selector"] != labels:
        fail(f"{sw}: selector does not match the pod labels")
    for p in s["ports"]:
        fields(p, "ServicePort", sw)
        if p["targetPort"] not in ports:
            fail(f"{sw}: targetPort {p['targetPort']} is no container port name")
if [p["targetPort"] for p in docs["Service"]["keyward"][0]["spec"]["ports"]] != ["https"]:
    fail("Service keyward must expose only the client port")

pdb, pw = docs["PodDisruptionBudget"]["keyward"]
pspec = fields(pdb["spec"], "PodDisruptionBudget.spec", pw)
if pspec["selector"]["matchLabels"] != labels or pspec.get("minAvailable") != 1:
    fail(f"{pw}: one replica must stay available, selected by the pod labels")

np, nw = docs["NetworkPolicy"]["keyward"]
nspec = fields(np["spec"], "NetworkPolicy.spec", nw)
if nspec["podSelector"]["matchLabels"] != labels or set(nspec["policyTypes"]) != {"Ingress", "Egress"}:
    fail(f"{nw}: must select the pods and govern both directions")
admin_rules = []
for rule in nspec["ingress"]:
    fields(rule, "NetworkPolicyRule", nw)
    for p in rule["ports"]:
        fields(p, "NetworkPolicyPort", nw)
        if p["port"] == 9091:
            admin_rules.append(rule)
if not admin_rules or any("from" not in r for r in admin_rules):
    fail(f"{nw}: the admin port must be reachable only from a selected namespace")

# The keyward config in the ConfigMap: its files under a temporary root, then `keyward check`.
cm = docs["ConfigMap"]
config = cm["keyward-config"][0]["data"]["keyward.yaml"]
# The audit log's directory: a writable volume (the root filesystem is read-only).
audit_file = yaml.safe_load(config).get("audit", {}).get("file", "")
if not audit_file.startswith("/var/log/keyward/"):
    fail(f"audit.file {audit_file!r} is not under the audit volume /var/log/keyward")
audit_mount = [m for m in container["volumeMounts"] if m["mountPath"] == "/var/log/keyward"]
if (len(audit_mount) != 1 or audit_mount[0].get("readOnly")
        or "emptyDir" not in volumes.get(audit_mount[0]["name"], {})):
    fail("the audit directory must be a writable emptyDir mount")

with tempfile.TemporaryDirectory() as tmp:
    text = config.replace("/etc/keyward/", tmp + "/").replace("/var/log/keyward/", tmp + "/log/")
    os.makedirs(os.path.join(tmp, "log"), exist_ok=True)
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    for path in sorted(set(re.findall(r"/etc/keyward/[\w./-]+", config))):
        local = path.replace("/etc/keyward/", tmp + "/")
        os.makedirs(os.path.dirname(local), exist_ok=True)
        # Each file the config names must come from a mounted volume.
        if not any(path.startswith(m + "/") for m in mounts):
            fail(f"config names {path}, which no volume mounts")
    secrets = docs["Secret"]["keyward-secrets"][0]["stringData"]
    for key in secrets:
        if f"/etc/keyward/secrets/{key}" not in config:
            fail(f"Secret key {key} is not used by the config")
    values = {"admin-token": "a" * 48, "upstream-url": "https://demo-1.upstash.io",
              "upstream-token": "t" * 40, "quota-store-url": "redis://127.0.0.1:6379"}
    for key, value in values.items():
        with open(os.path.join(tmp, "secrets", key), "w") as f:
            f.write(value)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-days", "1", "-subj", "/CN=keyward",
                    "-keyout", os.path.join(tmp, "tls", "tls.key"),
                    "-out", os.path.join(tmp, "tls", "tls.crt")], check=True, capture_output=True)
    priv = os.path.join(tmp, "ed.pem")
    subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", priv], check=True)
    subprocess.run(["openssl", "pkey", "-in", priv, "-pubout", "-out",
                    os.path.join(tmp, "signing", "web-2026-12.pub.pem")], check=True)
    with open(os.path.join(tmp, "revoked", "revoked.txt"), "w") as f:
        f.write(cm["keyward-revoked"][0]["data"]["revoked.txt"])
    os.makedirs(os.path.join(tmp, "config"), exist_ok=True)
    cfg = os.path.join(tmp, "config", "keyward.yaml")
    if config_path != "/etc/keyward/config/keyward.yaml":
        fail(f"the container reads {config_path}, not the ConfigMap's mount")
    with open(cfg, "w") as f:
        f.write(text)
    r = subprocess.run([keyward, "check", "--config", cfg], capture_output=True, text=True)
    if r.returncode != 0 or not r.stdout.strip().endswith(": ok"):
        fail(f"keyward check refused the ConfigMap's config:\n{r.stdout}{r.stderr}")

if failures:
    print("\n".join(failures))
    sys.exit(1)
print(f"ok: {sum(len(v) for v in docs.values())} objects in {len(files)} files")
