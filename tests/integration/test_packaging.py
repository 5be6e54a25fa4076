# SPDX-License-Identifier: BSD-2-Clause
"""Packaging (issue 10): systemd units, the Debian package, the container
image and the k3s manifests.

- The units are checked by systemd itself (`systemd-analyze verify`, and
  `systemd-analyze security --offline` for the exposure score), on copies
  whose /usr/bin paths point at the binaries under test.
- The .deb is built for real with `dpkg-buildpackage -us -uc -b` (through
  packaging/debian/build-deb.sh), unpacked into a scratch root with
  `dpkg -x`, and linted with lintian.  Only in the plain run: the
  sanitizer run would build the very same package again.
- There is no container engine on the test machines and Debian has no
  hadolint, so the Dockerfile gets a structural check here; the k3s
  manifests are parsed with PyYAML and sanity-checked.
- Configuration files shipped in packaging/ must pass `limen check`; those
  tests skip, saying why, while the configuration loader is not built.
"""
import os
import re
import shutil
import subprocess

import pytest
import yaml

from conftest import BACKUP_BIN, LIMEN_BIN, ROOT, SANITIZED, run_cmd

PKG = os.path.join(ROOT, "packaging")
UNITS = os.path.join(PKG, "systemd")
LOADER_STUB = "the configuration loader is not built yet"


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def makefile_version():
    m = re.search(r"^VERSION\s*:?=\s*(\S+)", read(os.path.join(ROOT, "Makefile")),
                  re.M)
    return m.group(1)


def limen_check(path):
    """Run `limen check` on path; skip while the loader is a placeholder."""
    r = run_cmd([LIMEN_BIN, "check", "-c", path])
    if LOADER_STUB in r.stderr:
        pytest.skip("limen check cannot validate yet: " + LOADER_STUB)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip() == path + ": ok"


# ---- systemd units ----------------------------------------------------------

def parse_unit(path):
    """A unit file as {section: {key: [values in order]}}."""
    unit, section = {}, None
    for line in read(path).splitlines():
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            section = unit.setdefault(line.strip("[]"), {})
            continue
        k, _, v = line.partition("=")
        section.setdefault(k.strip(), []).append(v.strip())
    return unit


def one(unit, section, key):
    vals = unit[section].get(key, [])
    assert len(vals) == 1, "%s.%s: %r" % (section, key, vals)
    return vals[0]


@pytest.fixture
def units_for_test(tmp_path):
    """Copies of the units whose /usr/bin/limen* paths are the binaries
    under test, so systemd-analyze can check that they are executable."""
    bindir = os.path.dirname(os.path.abspath(LIMEN_BIN))
    assert os.path.dirname(os.path.abspath(BACKUP_BIN)) == bindir
    out = []
    for name in ("limen.service", "limen-backup.service"):
        text = read(os.path.join(UNITS, name)).replace("/usr/bin/", bindir + "/")
        (tmp_path / name).write_text(text)
        out.append(str(tmp_path / name))
    return out


def test_systemd_analyze_verify_accepts_both_units(units_for_test):
    r = run_cmd(["systemd-analyze", "verify", "--man=no", *units_for_test],
                cwd=os.path.dirname(units_for_test[0]))
    assert r.returncode == 0, r.stderr
    # unknown keys and bad values are only warnings: accept none
    ours = [l for l in r.stderr.splitlines() if ".service" in l]
    assert ours == [], "\n".join(ours)


def test_systemd_analyze_verify_rejects_a_broken_unit(tmp_path):
    # the check above would notice a misspelt key (a warning, exit 0) and
    # a program that is not there (an error)
    text = read(os.path.join(UNITS, "limen.service"))
    (tmp_path / "limen.service").write_text(
        text.replace("ProtectSystem=", "ProtectSytem="))
    r = run_cmd(["systemd-analyze", "verify", "--man=no",
                 str(tmp_path / "limen.service")])
    assert "Unknown key 'ProtectSytem'" in r.stderr
    missing = str(tmp_path / "nowhere") + "/"
    (tmp_path / "limen.service").write_text(text.replace("/usr/bin/", missing))
    r = run_cmd(["systemd-analyze", "verify", "--man=no",
                 str(tmp_path / "limen.service")])
    assert r.returncode != 0 and missing + "limen" in r.stderr


@pytest.mark.parametrize("name", ["limen.service", "limen-backup.service"])
def test_units_have_a_low_exposure_score(units_for_test, name):
    path = [p for p in units_for_test if p.endswith("/" + name)][0]
    r = run_cmd(["systemd-analyze", "security", "--offline=true", "--man=no",
                 path])
    m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", r.stdout)
    assert m, r.stdout + r.stderr
    # 0 is fully sandboxed, 10 is not at all; < 2 is systemd's "OK"
    assert float(m.group(1)) <= 2.0, r.stdout


def test_limen_unit_is_notify_checks_before_start_and_reload():
    u = parse_unit(os.path.join(UNITS, "limen.service"))
    s = u["Service"]
    assert one(u, "Service", "Type") == "notify"
    assert one(u, "Service", "User") == "limen"
    assert one(u, "Service", "ExecStartPre").startswith("/usr/bin/limen check ")
    assert one(u, "Service", "ExecStart").startswith("/usr/bin/limen run ")
    # ExecReload lines run in order: validate first, then swap
    assert [v.split()[:2] for v in s["ExecReload"]] == [
        ["/usr/bin/limen", "check"], ["/usr/bin/limen", "reload"]]
    assert one(u, "Service", "CapabilityBoundingSet") == "CAP_NET_BIND_SERVICE"
    assert one(u, "Service", "AmbientCapabilities") == "CAP_NET_BIND_SERVICE"
    for key, want in [("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"),
                      ("ProtectHome", "yes"), ("PrivateTmp", "yes"),
                      ("StateDirectory", "limen"), ("StateDirectoryMode", "0700"),
                      ("LogsDirectory", "limen"), ("RuntimeDirectory", "limen")]:
        assert one(u, "Service", key) == want, key
    assert set(one(u, "Service", "RestrictAddressFamilies").split()) == {
        "AF_UNIX", "AF_INET", "AF_INET6"}
    assert s["SystemCallFilter"][0] == "@system-service"
    assert u["Install"]["WantedBy"] == ["multi-user.target"]


def test_backup_unit_has_its_own_user_and_reaches_postgres_and_destination():
    u = parse_unit(os.path.join(UNITS, "limen-backup.service"))
    assert one(u, "Service", "User") == "limen-backup"
    assert one(u, "Service", "ExecStart").startswith("/usr/bin/limen-backup run ")
    # no capability at all; Unix socket (/run/postgresql) and TCP
    assert one(u, "Service", "CapabilityBoundingSet") == ""
    fams = set(one(u, "Service", "RestrictAddressFamilies").split())
    assert {"AF_UNIX", "AF_INET", "AF_INET6"} <= fams
    assert "/var/backups/limen" in one(u, "Service", "ReadWritePaths").split()
    assert one(u, "Service", "ProtectSystem") == "strict"
    assert one(u, "Service", "StateDirectory") == "limen-backup"
    assert "postgresql.service" in one(u, "Unit", "After").split()


def test_packaged_config_passes_limen_check():
    limen_check(os.path.join(PKG, "limen.yaml"))


# ---- Debian package -----------------------------------------------------------

@pytest.fixture(scope="module")
def deb(tmp_path_factory):
    """Build the .deb once for this module; returns its path."""
    if SANITIZED:
        pytest.skip("the .deb is built and linted once, in the plain run "
                    "(LIMEN_SAN=1 would build the same package again)")
    out = tmp_path_factory.mktemp("deb")
    # no -dbgsym package: the test has no use for it and it costs time
    env = dict(os.environ, DEB_BUILD_OPTIONS="noautodbgsym")
    r = subprocess.run([os.path.join(PKG, "debian", "build-deb.sh"), str(out)],
                       capture_output=True, text=True, timeout=600, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    debs = [f for f in os.listdir(out)
            if f.startswith("limen_") and f.endswith(".deb")]
    assert len(debs) == 1, os.listdir(out)
    return os.path.join(out, debs[0])


@pytest.fixture(scope="module")
def deb_root(deb, tmp_path_factory):
    root = tmp_path_factory.mktemp("root")
    r = subprocess.run(["dpkg", "-x", deb, str(root)], capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr
    return str(root)


def deb_field(deb, field):
    return subprocess.run(["dpkg-deb", "-f", deb, field], capture_output=True,
                          text=True, check=True).stdout.strip()


def test_deb_control_fields(deb):
    assert deb_field(deb, "Package") == "limen"
    assert deb_field(deb, "Version") == makefile_version()
    deps = [d.strip().split()[0] for d in deb_field(deb, "Depends").split(",")]
    assert "adduser" in deps
    assert "postgresql-client" in deb_field(deb, "Recommends")


def test_deb_installs_binaries_units_config_and_docs(deb_root):
    def p(rel):
        return os.path.join(deb_root, rel)
    for b in ("usr/bin/limen", "usr/bin/limen-backup"):
        assert os.access(p(b), os.X_OK), b
    r = run_cmd([p("usr/bin/limen"), "--version"])
    assert r.returncode == 0 and r.stdout == "limen %s\n" % makefile_version()
    r = run_cmd([p("usr/bin/limen-backup"), "--version"])
    assert r.returncode == 0 and r.stdout.startswith("limen-backup ")
    for name in ("limen.service", "limen-backup.service"):
        assert read(p("lib/systemd/system/" + name)) == \
            read(os.path.join(UNITS, name))
    # the packaged default configuration, readable by both service users
    conf = p("etc/limen/limen.yaml")
    assert read(conf) == read(os.path.join(PKG, "limen.yaml"))
    assert os.stat(conf).st_mode & 0o777 == 0o644
    # the access log rotates as the limen user, reopened with SIGUSR1
    rot = read(p("etc/logrotate.d/limen"))
    assert "/var/log/limen/*.log" in rot and "su limen limen" in rot
    assert "--signal=USR1 limen.service" in rot
    for page in ("limen.1.gz", "limen-backup.1.gz"):
        assert os.path.exists(p("usr/share/man/man1/" + page)), page
    for doc in ("README.md", "spec.md", "operations.md", "performance.md",
                "copyright"):
        assert os.path.exists(p("usr/share/doc/limen/" + doc)), doc
    # a root-only state directory is made by postinst, not shipped open
    assert not os.path.exists(p("var/lib/limen"))


def test_deb_marks_the_configuration_as_a_conffile(deb, tmp_path):
    subprocess.run(["dpkg-deb", "-e", deb, str(tmp_path / "ctl")], check=True)
    conffiles = (tmp_path / "ctl" / "conffiles").read_text().split()
    assert sorted(conffiles) == ["/etc/limen/limen.yaml", "/etc/logrotate.d/limen"]


def test_deb_postinst_creates_both_users_and_private_dirs(deb, tmp_path):
    subprocess.run(["dpkg-deb", "-e", deb, str(tmp_path / "ctl")], check=True)
    postinst = str(tmp_path / "ctl" / "postinst")
    assert subprocess.run(["sh", "-n", postinst]).returncode == 0
    text = read(postinst)
    assert re.search(r"adduser --system .*--ingroup", text)
    for user in ("limen /var/lib/limen", "limen-backup /var/lib/limen-backup"):
        assert "make_user " + user in text
    for d in ("/var/lib/limen limen limen 0700",
              "/var/lib/limen-backup limen-backup limen-backup 0700",
              "/var/backups/limen limen-backup limen-backup 0700"):
        assert "make_dir " + d in text
    # limen is enabled and started, limen-backup waits for its jobs
    assert "deb-systemd-helper enable 'limen.service'" in text
    assert "deb-systemd-invoke $_dh_action 'limen.service'" in text
    assert "deb-systemd-invoke $_dh_action 'limen-backup.service'" not in text


def test_deb_is_lintian_clean(deb):
    r = run_cmd(["lintian", "--fail-on", "error,warning", "--display-info",
                 "--pedantic", deb], timeout=300)
    tags = [l for l in r.stdout.splitlines() if re.match(r"^[EWIPX]: ", l)]
    assert r.returncode == 0, r.stdout + r.stderr
    # overrides carry a written reason; nothing else may be reported
    assert tags == [], "\n".join(tags)


# ---- container image ---------------------------------------------------------

def dockerfile_instructions(path):
    """[(INSTRUCTION, arguments)] with continuations joined, comments dropped."""
    out, cur = [], ""
    for line in read(path).splitlines():
        s = line.strip()
        if not cur and (not s or s.startswith("#")):
            continue
        if s.startswith("#"):
            continue
        if s.endswith("\\"):
            cur += s[:-1] + " "
            continue
        cur += s
        ins, _, args = cur.partition(" ")
        out.append((ins.upper(), args.strip()))
        cur = ""
    assert cur == "", "dangling continuation"
    return out


def dockerfile_stages(ins):
    """{stage name: [(INSTRUCTION, args)]} in order, plus each stage's base."""
    stages, bases, name = {}, {}, None
    for i, a in ins:
        if i == "FROM":
            m = re.match(r"(\S+)(?:\s+AS\s+(\S+))?$", a, re.I)
            name = m.group(2) or "stage%d" % len(stages)
            bases[name] = m.group(1)
            stages[name] = []
        elif name:
            stages[name].append((i, a))
    return stages, bases


DOCKERFILE = os.path.join(PKG, "docker", "Dockerfile")


def test_dockerfile_is_multistage_on_bookworm_slim():
    ins = dockerfile_instructions(DOCKERFILE)
    args = dict(a.split("=", 1) for i, a in ins if i == "ARG" and "=" in a)
    stages, bases = dockerfile_stages(ins)
    assert len(stages) >= 2
    names = list(stages)
    for n, base in bases.items():
        base = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], base)
        # every stage starts from bookworm-slim or from an earlier stage
        assert base == "debian:bookworm-slim" or \
            base in names[:names.index(n)], (n, base)
    # the default target (the last stage) is the proxy
    assert names[-1] == "limen"
    assert "limen-backup" in stages


def test_dockerfile_runtime_stages_are_non_root_with_ports_and_healthcheck():
    stages, _ = dockerfile_stages(dockerfile_instructions(DOCKERFILE))
    for name, port_set in (("limen", {"80", "443"}), ("limen-backup", {"9091"})):
        st = stages[name]
        users = [a for i, a in st if i == "USER"]
        assert users and users[-1].split(":")[0] not in ("root", "0"), name
        exposed = set(" ".join(a for i, a in st if i == "EXPOSE").split())
        assert exposed == port_set, name
        assert any(i == "CMD" and "/etc/limen/limen.yaml" in a for i, a in st)
    hc = [a for i, a in stages["limen"] if i == "HEALTHCHECK"]
    assert len(hc) == 1 and "http://127.0.0.1:9090/healthz" in hc[0]
    # the proxy gets exactly one capability, on its binary
    runs = " ".join(a for i, a in stages["limen"] if i == "RUN")
    assert "setcap cap_net_bind_service=+ep /usr/bin/limen" in runs


def test_dockerfile_follows_the_usual_lint_rules():
    """What hadolint would check and matters here (hadolint is not in Debian)."""
    ins = dockerfile_instructions(DOCKERFILE)
    for i, a in ins:
        assert i in {"FROM", "ARG", "RUN", "COPY", "WORKDIR", "USER", "VOLUME",
                     "EXPOSE", "STOPSIGNAL", "HEALTHCHECK", "ENTRYPOINT",
                     "CMD", "ENV", "LABEL"}, i        # no ADD (DL3020)
        if i == "RUN" and "apt-get install" in a:
            assert "--no-install-recommends" in a, a       # DL3015
            assert " -y " in a, a                          # DL3014
            assert "rm -rf /var/lib/apt/lists/*" in a, a   # DL3009
            assert "apt-get update" in a, a                # DL3005/3009
        if i == "FROM":
            assert ":latest" not in a                      # DL3007
        if i == "COPY" and not a.startswith("--from"):
            for src in a.split()[:-1]:
                if src != ".":
                    assert os.path.exists(os.path.join(ROOT, src)), src
        if i in ("ENTRYPOINT", "CMD"):
            assert a.startswith("["), a                    # exec form, DL3025
        if i == "RUN":
            assert "sudo" not in a.split()                 # DL3004
    workdirs = [a for i, a in ins if i == "WORKDIR"]
    assert all(w.startswith("/") for w in workdirs)        # DL3000


def test_dockerfile_build_stage_has_every_build_dependency():
    stages, _ = dockerfile_stages(dockerfile_instructions(DOCKERFILE))
    runs = " ".join(a for i, a in stages["build"] if i == "RUN").split()
    control = read(os.path.join(PKG, "debian", "control"))
    bd = re.search(r"^Build-Depends:(.*?)^\S", control, re.S | re.M).group(1)
    for dep in bd.split(","):
        name = dep.strip().split()[0]
        name = "debhelper" if name == "debhelper-compat" else name
        assert name in runs, name


def test_container_config_passes_limen_check():
    limen_check(os.path.join(PKG, "docker", "limen.yaml"))


# ---- k3s manifests -------------------------------------------------------------

K3S = os.path.join(PKG, "k3s")


def k3s_docs():
    kust = yaml.safe_load(read(os.path.join(K3S, "kustomization.yaml")))
    docs = []
    for f in kust["resources"]:
        for d in yaml.safe_load_all(read(os.path.join(K3S, f))):
            if d is not None:
                docs.append(d)
    return kust, docs


def by_kind(docs, kind, name=None):
    found = [d for d in docs if d["kind"] == kind and
             (name is None or d["metadata"]["name"] == name)]
    assert found, (kind, name)
    return found[0] if name else found


def test_k3s_every_yaml_file_parses_and_is_in_the_kustomization():
    kust, docs = k3s_docs()
    files = sorted(f for f in os.listdir(K3S) if f.endswith(".yaml"))
    # everything but the kustomization itself and the k3s server config
    assert sorted(kust["resources"]) == sorted(
        set(files) - {"kustomization.yaml", "k3s-config.yaml"})
    for d in docs:
        assert {"apiVersion", "kind", "metadata"} <= set(d), d
    kinds = sorted(d["kind"] for d in docs)
    assert kinds == sorted(["Namespace", "ConfigMap", "DaemonSet",
                            "PersistentVolumeClaim", "Deployment",
                            "NetworkPolicy", "NetworkPolicy"])
    assert kust["namespace"] == by_kind(docs, "Namespace")[0]["metadata"]["name"]


YAMLLINT_CONF = ("{extends: default, rules: {line-length: {max: 100}, "
                 "document-start: disable, comments: {min-spaces-from-content: 1}, "
                 "braces: {max-spaces-inside: 1}, brackets: {max-spaces-inside: 1}}}")


def test_shipped_yaml_passes_yamllint():
    # PyYAML keeps the last of two duplicate keys without a word; yamllint
    # reports them, and any indentation or syntax slip
    files = [os.path.join(K3S, f) for f in sorted(os.listdir(K3S))
             if f.endswith(".yaml")]
    files += [os.path.join(PKG, "limen.yaml"), os.path.join(PKG, "docker", "limen.yaml")]
    r = run_cmd(["yamllint", "-f", "parsable", "-d", YAMLLINT_CONF, *files])
    assert r.returncode == 0, r.stdout + r.stderr


def test_k3s_kustomization_builds():
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed (not a Debian 12 package); "
                    "the kustomization is checked by the other tests only")
    r = run_cmd(["kubectl", "kustomize", K3S])
    assert r.returncode == 0, r.stderr
    docs = [d for d in yaml.safe_load_all(r.stdout) if d]
    _, ours = k3s_docs()
    assert len(docs) == len(ours)
    # every namespaced object lands in limen-system
    for d in docs:
        if d["kind"] != "Namespace":
            assert d["metadata"]["namespace"] == "limen-system", d["metadata"]


def test_k3s_config_disables_traefik():
    conf = yaml.safe_load(read(os.path.join(K3S, "k3s-config.yaml")))
    assert conf == {"disable": ["traefik"]}
    assert "--disable=traefik" in read(os.path.join(K3S, "k3s-config.yaml"))


def container(workload, name):
    spec = workload["spec"]["template"]["spec"]
    return [c for c in spec["containers"] if c["name"] == name][0]


def test_k3s_daemonset_owns_ports_80_443_with_probes_and_state():
    _, docs = k3s_docs()
    ds = by_kind(docs, "DaemonSet", "limen")
    spec = ds["spec"]["template"]["spec"]
    c = container(ds, "limen")
    ports = {p["name"]: p for p in c["ports"]}
    assert (ports["http"].get("hostPort"), ports["https"].get("hostPort")) == (80, 443)
    assert "hostPort" not in ports["admin"]
    assert not spec.get("hostNetwork", False)
    for probe in ("readinessProbe", "livenessProbe"):
        assert c[probe]["httpGet"] == {"path": "/healthz", "port": "admin"}
    # non-root, no capability, read-only root
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] == 10001
    sc = c["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["readOnlyRootFilesystem"] is True
    # NET_BIND_SERVICE only in the bounding set (the binary's file
    # capability needs it there to exec); no_new_privs keeps it ungranted
    assert sc["capabilities"] == {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    vols = {v["name"]: v for v in spec["volumes"]}
    assert vols[mounts["/etc/limen"]]["configMap"]["name"] == "limen-config"
    assert "hostPath" in vols[mounts["/var/lib/limen"]]
    # the selector matches the pods
    assert ds["spec"]["selector"]["matchLabels"].items() <= \
        ds["spec"]["template"]["metadata"]["labels"].items()


def test_k3s_configmap_matches_the_daemonset_ports():
    _, docs = k3s_docs()
    conf = yaml.safe_load(by_kind(docs, "ConfigMap", "limen-config")["data"]["limen.yaml"])
    c = container(by_kind(docs, "DaemonSet", "limen"), "limen")
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    listen = {l["name"]: l["listen"] for l in conf["listeners"]}
    assert listen["web"] == [":%d" % ports["http"]]
    assert listen["websecure"] == [":%d" % ports["https"]]
    assert conf["admin"]["listen"] == ":%d" % ports["admin"]
    assert conf["global"]["state_dir"] == "/var/lib/limen"
    assert conf["global"]["watch_config"] is True
    # every route's pool exists
    for r in conf["routes"]:
        if "pool" in r:
            assert r["pool"] in conf["pools"], r
    b = container(by_kind(docs, "Deployment", "limen-backup"), "limen-backup")
    assert conf["backup"]["listen"] == ":%d" % b["ports"][0]["containerPort"]


def test_k3s_configmap_passes_limen_check(tmp_path):
    _, docs = k3s_docs()
    path = tmp_path / "limen.yaml"
    path.write_text(by_kind(docs, "ConfigMap", "limen-config")["data"]["limen.yaml"])
    limen_check(str(path))


def test_k3s_backup_is_one_deployment_with_volume_secret_and_probes():
    _, docs = k3s_docs()
    assert not [d for d in docs if d["kind"] == "CronJob"]
    dep = by_kind(docs, "Deployment", "limen-backup")
    assert dep["spec"]["replicas"] == 1
    assert dep["spec"]["strategy"]["type"] == "Recreate"
    spec = dep["spec"]["template"]["spec"]
    c = container(dep, "limen-backup")
    assert c["args"][0] == "run"
    assert spec["securityContext"]["runAsUser"] == 10002
    env = {e["name"]: e for e in c.get("env", [])}
    assert env["PGPASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "limen-backup-db"
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    vols = {v["name"]: v for v in spec["volumes"]}
    claim = vols[mounts["/var/backups/limen"]]["persistentVolumeClaim"]["claimName"]
    assert by_kind(docs, "PersistentVolumeClaim", claim)
    for probe in ("readinessProbe", "livenessProbe"):
        assert c[probe]["httpGet"]["path"] == "/healthz"


def test_k3s_networkpolicy_opens_public_ports_and_guards_admin():
    _, docs = k3s_docs()
    pol = by_kind(docs, "NetworkPolicy", "limen")
    assert pol["spec"]["podSelector"]["matchLabels"] == {
        "app.kubernetes.io/name": "limen"}
    open_rules = [r for r in pol["spec"]["ingress"] if "from" not in r]
    open_ports = {p["port"] for r in open_rules for p in r["ports"]}
    assert open_ports == {8080, 8443}
    guarded = [r for r in pol["spec"]["ingress"] if "from" in r]
    assert {p["port"] for r in guarded for p in r["ports"]} == {9090}
    bpol = by_kind(docs, "NetworkPolicy", "limen-backup")
    assert "Egress" in bpol["spec"]["policyTypes"]
    eports = {p["port"] for r in bpol["spec"]["egress"] for p in r["ports"]}
    assert eports == {53, 5432}


def test_k3s_images_are_the_ones_the_dockerfile_builds():
    _, docs = k3s_docs()
    version = makefile_version()
    assert container(by_kind(docs, "DaemonSet", "limen"), "limen")["image"] == \
        "limen:" + version
    assert container(by_kind(docs, "Deployment", "limen-backup"),
                     "limen-backup")["image"] == "limen-backup:" + version
