package deploy

import (
	"bufio"
	"bytes"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/nanoedge/nanoedge/internal/cli"
)

// manifests decodes every document of a kustomize build strictly into its
// Kubernetes API type, and the example Secrets beside them.
type manifests struct {
	dir            string
	namespaces     []corev1.Namespace
	services       []corev1.Service
	secrets        []corev1.Secret
	statefulSets   []appsv1.StatefulSet
	deployments    []appsv1.Deployment
	hpas           []autoscalingv2.HorizontalPodAutoscaler
	pdbs           []policyv1.PodDisruptionBudget
	serviceMonitor []serviceMonitor
	// namespaced: every object's namespace but the Namespace's.
	namespaced map[string]string
}

// serviceMonitor is the part of the Prometheus operator's type we use.
type serviceMonitor struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   metav1.ObjectMeta `json:"metadata"`
	Spec       struct {
		Selector  metav1.LabelSelector `json:"selector"`
		Endpoints []struct {
			Port     string `json:"port"`
			Path     string `json:"path"`
			Interval string `json:"interval"`
		} `json:"endpoints"`
	} `json:"spec"`
}

// overlays are what operators apply.
var overlays = []string{"kubernetes/overlays/dev", "kubernetes/overlays/prod"}

// build runs kustomize on dir, as kubectl apply -k does.
func build(t *testing.T, dir string) *manifests {
	t.Helper()
	res, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	out, err := res.AsYaml()
	if err != nil {
		t.Fatal(err)
	}
	m := &manifests{dir: dir, namespaced: map[string]string{}}
	m.decode(t, dir, string(out))
	b, err := os.ReadFile("kubernetes/secrets.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m.decode(t, "secrets.example.yaml", string(b))
	return m
}

func (m *manifests) decode(t *testing.T, from, text string) {
	t.Helper()
	for i, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(text, -1) {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		var meta struct {
			Kind     string
			Metadata struct{ Name, Namespace string }
		}
		if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
			t.Fatalf("%s doc %d: %v", from, i, err)
		}
		if meta.Kind != "Namespace" {
			m.namespaced[meta.Kind+"/"+meta.Metadata.Name] = meta.Metadata.Namespace
		}
		var target any
		switch meta.Kind {
		case "Service":
			m.services = append(m.services, corev1.Service{})
			target = &m.services[len(m.services)-1]
		case "Secret":
			m.secrets = append(m.secrets, corev1.Secret{})
			target = &m.secrets[len(m.secrets)-1]
		case "StatefulSet":
			m.statefulSets = append(m.statefulSets, appsv1.StatefulSet{})
			target = &m.statefulSets[len(m.statefulSets)-1]
		case "Deployment":
			m.deployments = append(m.deployments, appsv1.Deployment{})
			target = &m.deployments[len(m.deployments)-1]
		case "HorizontalPodAutoscaler":
			m.hpas = append(m.hpas, autoscalingv2.HorizontalPodAutoscaler{})
			target = &m.hpas[len(m.hpas)-1]
		case "PodDisruptionBudget":
			m.pdbs = append(m.pdbs, policyv1.PodDisruptionBudget{})
			target = &m.pdbs[len(m.pdbs)-1]
		case "ServiceMonitor":
			m.serviceMonitor = append(m.serviceMonitor, serviceMonitor{})
			target = &m.serviceMonitor[len(m.serviceMonitor)-1]
		case "Namespace":
			m.namespaces = append(m.namespaces, corev1.Namespace{})
			target = &m.namespaces[len(m.namespaces)-1]
		default:
			t.Fatalf("%s doc %d: unexpected kind %q", from, i, meta.Kind)
		}
		if err := yaml.UnmarshalStrict([]byte(doc), target); err != nil {
			t.Fatalf("%s doc %d (%s): %v", from, i, meta.Kind, err)
		}
	}
}

type workload struct {
	name   string
	labels map[string]string
	spec   corev1.PodSpec
}

func (m *manifests) workloads() []workload {
	var ws []workload
	for _, s := range m.statefulSets {
		ws = append(ws, workload{s.Name, s.Spec.Template.Labels, s.Spec.Template.Spec})
	}
	for _, d := range m.deployments {
		ws = append(ws, workload{d.Name, d.Spec.Template.Labels, d.Spec.Template.Spec})
	}
	return ws
}

func selects(sel, labels map[string]string) bool {
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return len(sel) > 0
}

func TestKubernetesWiring(t *testing.T) {
	for _, dir := range overlays {
		t.Run(filepath.Base(dir), func(t *testing.T) { checkWiring(t, build(t, dir)) })
	}
}

func checkWiring(t *testing.T, m *manifests) {
	for _, s := range m.statefulSets {
		if !selects(s.Spec.Selector.MatchLabels, s.Spec.Template.Labels) {
			t.Errorf("statefulset %s: selector does not match its pods", s.Name)
		}
		found := false
		for _, svc := range m.services {
			if svc.Name == s.Spec.ServiceName && svc.Spec.ClusterIP == corev1.ClusterIPNone && selects(svc.Spec.Selector, s.Spec.Template.Labels) {
				found = true
			}
		}
		if !found {
			t.Errorf("statefulset %s: no headless service %q selecting its pods", s.Name, s.Spec.ServiceName)
		}
	}
	for _, d := range m.deployments {
		if !selects(d.Spec.Selector.MatchLabels, d.Spec.Template.Labels) {
			t.Errorf("deployment %s: selector does not match its pods", d.Name)
		}
	}
	for _, svc := range m.services {
		var target *workload
		for _, w := range m.workloads() {
			if selects(svc.Spec.Selector, w.labels) {
				target = &w
			}
		}
		if target == nil {
			t.Errorf("service %s selects no workload", svc.Name)
			continue
		}
		for _, p := range svc.Spec.Ports {
			if p.TargetPort.StrVal != "" && !hasPort(target.spec, p.TargetPort.StrVal) {
				t.Errorf("service %s: target port %q is not a container port of %s", svc.Name, p.TargetPort.StrVal, target.name)
			}
		}
	}
	for _, h := range m.hpas {
		ok := false
		for _, d := range m.deployments {
			ok = ok || (h.Spec.ScaleTargetRef.Kind == "Deployment" && h.Spec.ScaleTargetRef.Name == d.Name)
		}
		if !ok {
			t.Errorf("hpa %s scales nothing that exists", h.Name)
		}
	}
	for _, w := range m.workloads() {
		for _, c := range w.spec.Containers {
			for _, probe := range []*corev1.Probe{c.ReadinessProbe, c.LivenessProbe} {
				if probe == nil {
					t.Errorf("%s/%s: missing a probe", w.name, c.Name)
					continue
				}
				if g := probe.HTTPGet; g != nil && g.Port.StrVal != "" && !hasPort(w.spec, g.Port.StrVal) {
					t.Errorf("%s/%s: probe port %q not declared", w.name, c.Name, g.Port.StrVal)
				}
			}
			for _, e := range c.Env {
				if ref := e.ValueFrom; ref != nil && ref.SecretKeyRef != nil && !m.hasSecret(ref.SecretKeyRef.Name, ref.SecretKeyRef.Key) {
					t.Errorf("%s/%s: env %s needs secret %s/%s, which no manifest defines", w.name, c.Name, e.Name, ref.SecretKeyRef.Name, ref.SecretKeyRef.Key)
				}
			}
			// $(VAR) in args must name an env var of the container.
			for _, a := range c.Args {
				for _, v := range regexp.MustCompile(`\$\(([A-Z_]+)\)`).FindAllStringSubmatch(a, -1) {
					if !hasEnv(c, v[1]) {
						t.Errorf("%s/%s: arg %q uses $(%s), which the container does not define", w.name, c.Name, a, v[1])
					}
				}
			}
			checkArgs(t, w.name, expand(c.Args), envOf(c))
		}
	}
}

func hasPort(spec corev1.PodSpec, name string) bool {
	for _, c := range spec.Containers {
		for _, p := range c.Ports {
			if p.Name == name {
				return true
			}
		}
	}
	return false
}

func hasEnv(c corev1.Container, name string) bool {
	for _, e := range c.Env {
		if e.Name == name {
			return true
		}
	}
	return false
}

func envOf(c corev1.Container) []string {
	var out []string
	for _, e := range c.Env {
		out = append(out, e.Name)
	}
	return out
}

func (m *manifests) hasSecret(name, key string) bool {
	for _, s := range m.secrets {
		if _, ok := s.StringData[key]; ok && s.Name == name {
			return true
		}
	}
	return false
}

func expand(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = regexp.MustCompile(`\$\([A-Z_]+\)`).ReplaceAllString(a, "pod-0")
	}
	return out
}

// checkArgs parses a nanoedge command line with the binary's own flags
// (asking for help at the end, so nothing runs: a bad flag or value fails
// before) and checks that every NANOEDGE_ variable given to it names one
// of the command's flags.
func checkArgs(t *testing.T, where string, args, env []string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := cli.Main(append(append([]string(nil), args...), "-h"), &out, &errb)
	usage := out.String()
	if code != 0 || !strings.Contains(usage, "nanoedge "+args[0]) || errb.Len() > 0 {
		t.Errorf("%s: nanoedge %s: exit %d: %s%s", where, strings.Join(args, " "), code, usage, errb.String())
		return
	}
	for _, name := range env {
		flag, ok := strings.CutPrefix(name, "NANOEDGE_")
		if !ok {
			continue
		}
		flag = "--" + strings.ReplaceAll(strings.ToLower(flag), "_", "-") + " "
		if !strings.Contains(usage, flag) {
			t.Errorf("%s: %s names no flag of nanoedge %s", where, name, args[0])
		}
	}
}

func TestSystemdUnits(t *testing.T) {
	units, _ := filepath.Glob("systemd/*.service")
	if len(units) == 0 {
		t.Fatal("no units")
	}
	for _, u := range units {
		b, _ := os.ReadFile(u)
		var exec, envFile string
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "ExecStart="); ok {
				exec = v
			}
			if v, ok := strings.CutPrefix(sc.Text(), "EnvironmentFile="); ok {
				envFile = filepath.Join("systemd", filepath.Base(v))
			}
		}
		fields := strings.Fields(exec)
		if len(fields) < 2 || filepath.Base(fields[0]) != "nanoedge" {
			t.Fatalf("%s: ExecStart %q does not run nanoedge", u, exec)
		}
		eb, err := os.ReadFile(envFile)
		if err != nil {
			t.Fatalf("%s: environment file: %v", u, err)
		}
		var env []string
		for _, line := range strings.Split(string(eb), "\n") {
			if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
				env = append(env, k)
				t.Setenv(k, v)
			}
		}
		checkArgs(t, u, fields[1:], env)
		for _, k := range env {
			os.Unsetenv(k)
		}
		checkSandbox(t, u, string(b), string(eb))
	}
}

// checkSandbox: the unit makes its own user, hands secrets over as
// credentials (each one the environment file names is loaded, and the
// other way round), and systemd-analyze rates its sandbox OK or better.
func checkSandbox(t *testing.T, unit, text, env string) {
	t.Helper()
	if !strings.Contains(text, "\nDynamicUser=yes\n") || strings.Contains(text, "\nUser=") {
		t.Errorf("%s: want DynamicUser=yes and no fixed User=", unit)
	}
	loaded := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^LoadCredential=([a-z-]+):(/\S+)$`).FindAllStringSubmatch(text, -1) {
		loaded[m[1]] = true
	}
	named := map[string]bool{}
	prefix := "/run/credentials/" + filepath.Base(unit) + "/"
	for _, m := range regexp.MustCompile(regexp.QuoteMeta(prefix)+`([a-z-]+)`).FindAllStringSubmatch(env, -1) {
		named[m[1]] = true
		if !loaded[m[1]] {
			t.Errorf("%s: its environment reads credential %q, which the unit does not load", unit, m[1])
		}
	}
	for id := range loaded {
		if !named[id] {
			t.Errorf("%s: loads credential %q, which nothing reads", unit, id)
		}
	}
	if regexp.MustCompile(`(?m)^NANOEDGE_\w*(TOKEN|KEY)\w*=/etc/`).MatchString(env) {
		t.Errorf("%s: a secret is read from /etc directly instead of as a credential", unit)
	}
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if testing.Short() {
			t.Skip("systemd-analyze missing")
		}
		t.Fatal("systemd-analyze missing: run make test-deps (Debian package systemd)")
	}
	out, err := exec.Command(sa, "security", "--offline=yes", "--no-pager", unit).CombinedOutput()
	m := regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+) (\w+)`).FindSubmatch(out)
	if err != nil || m == nil {
		t.Fatalf("systemd-analyze security %s: %v\n%s", unit, err, out)
	}
	if level := string(m[2]); level != "OK" && level != "SAFE" && level != "PERFECT" {
		t.Errorf("%s: systemd-analyze rates it %s %s; want OK or better", unit, m[1], level)
	}
}

// TestStaticBinary builds the binary as the Dockerfile does and checks it
// needs no dynamic loader, so it runs on a distroless static base.
// TestReleaseBuild: make release's build, from the files an image build
// sees (.dockerignore applied), is static, says its version, and is the
// same bytes when built again from another path; arm64 cross-builds.
func TestReleaseBuild(t *testing.T) {
	df, _ := os.ReadFile("docker/Dockerfile")
	if !strings.Contains(string(df), "scripts/release.sh") {
		t.Fatal("the Dockerfile no longer builds as make release does")
	}
	version, _ := os.ReadFile("../VERSION")
	var sums []string
	for i, arches := range []string{"amd64 arm64", "amd64"} {
		tree := dockerContext(t)
		out := t.TempDir()
		cmd := exec.Command("scripts/release.sh", out)
		cmd.Dir = tree
		cmd.Env = append(os.Environ(), "ARCHES="+arches)
		if i == 1 {
			// Compile everything again, so the bytes come from the
			// compiler, not from the first build's cache.
			cmd.Env = append(cmd.Env, "GOCACHE="+t.TempDir())
		}
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("release.sh in %s: %v\n%s", tree, err, b)
		}
		b, err := os.ReadFile(filepath.Join(out, "SHA256SUMS"))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if len(lines) != len(strings.Fields(arches)) {
			t.Fatalf("SHA256SUMS %q for %s", b, arches)
		}
		sums = append(sums, lines[0]) // amd64
		bin := filepath.Join(out, "nanoedge-"+strings.TrimSpace(string(version))+"-linux-amd64")
		if i == 0 {
			checkStatic(t, bin)
			if v, err := exec.Command(bin, "version").Output(); err != nil || !strings.HasPrefix(string(v), "nanoedge v"+strings.TrimSpace(string(version))+" ") {
				t.Fatalf("version: %q, %v", v, err)
			}
		}
	}
	if sums[0] != sums[1] {
		t.Fatalf("two builds of the same tree from different paths differ:\n%s\n%s", sums[0], sums[1])
	}
}

func checkStatic(t *testing.T, bin string) {
	t.Helper()
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatal("the binary needs a dynamic loader")
		}
	}
}

// dockerContext copies the repository's files (tracked and new, as git
// lists them) that .dockerignore lets through into a new directory.
func dockerContext(t *testing.T) string {
	t.Helper()
	b, err := exec.Command("git", "-C", "..", "ls-files", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		t.Fatal(err)
	}
	ignore := dockerignore(t)
	dst := t.TempDir()
	for _, f := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if ignore(f) {
			continue
		}
		src := filepath.Join("..", f)
		st, err := os.Lstat(src)
		if err != nil || !st.Mode().IsRegular() {
			continue // deleted in the work tree, or a link
		}
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(dst, filepath.Dir(f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, f), data, st.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// dockerignore reads ../.dockerignore: "name" leaves out that top-level
// file or directory, "**/pattern" any path element matching pattern.
func dockerignore(t *testing.T) func(path string) bool {
	t.Helper()
	b, err := os.ReadFile("../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	var top, anywhere []string
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "**/"):
			anywhere = append(anywhere, strings.TrimPrefix(line, "**/"))
		case strings.ContainsAny(line, "*?[!"):
			t.Fatalf(".dockerignore: %q: this test reads only names and **/patterns", line)
		default:
			top = append(top, line)
		}
	}
	return func(path string) bool {
		for _, p := range top {
			if path == p || strings.HasPrefix(path, p+"/") {
				return true
			}
		}
		for _, el := range strings.Split(path, "/") {
			for _, p := range anywhere {
				if ok, _ := filepath.Match(p, el); ok {
					return true
				}
			}
		}
		return false
	}
}

// TestWasmtimeBinary builds the binary as Dockerfile.wasmtime does and
// checks its worker offers the wasmtime engine.
func TestWasmtimeBinary(t *testing.T) {
	df, _ := os.ReadFile("docker/Dockerfile.wasmtime")
	if !strings.Contains(string(df), "CGO_ENABLED=1 go build -tags wasmtime") || !strings.Contains(string(df), "./cmd/nanoedge") {
		t.Fatal("Dockerfile.wasmtime no longer builds ./cmd/nanoedge with -tags wasmtime")
	}
	bin := filepath.Join(t.TempDir(), "nanoedge")
	cmd := exec.Command("go", "build", "-tags", "wasmtime", "-trimpath", "-o", bin, "../cmd/nanoedge")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	out, _ := exec.Command(bin, "worker", "-h").CombinedOutput()
	if !strings.Contains(string(out), "wasmtime, wazero") {
		t.Fatalf("worker -h does not offer wasmtime:\n%s", out)
	}
}

// TestRaftAndAPIUseTLS: the control plane the manifests and units deploy
// runs Raft over mutual TLS and serves its API over TLS, never with
// --insecure; every Secret a volume mounts is defined.
func TestRaftAndAPIUseTLS(t *testing.T) {
	for _, dir := range overlays {
		t.Run(filepath.Base(dir), func(t *testing.T) { checkTLS(t, build(t, dir)) })
	}
	env, _ := os.ReadFile("systemd/controlplane.env")
	for _, k := range []string{"NANOEDGE_RAFT_TLS_CA=", "NANOEDGE_RAFT_TLS_CERT=", "NANOEDGE_RAFT_TLS_KEY=", "NANOEDGE_TLS_CERT="} {
		if !strings.Contains(string(env), k) {
			t.Errorf("systemd/controlplane.env: no %s", k)
		}
	}
	if strings.Contains(string(env), "NANOEDGE_INSECURE") {
		t.Error("systemd/controlplane.env sets NANOEDGE_INSECURE")
	}
}

func checkTLS(t *testing.T, m *manifests) {
	for _, s := range m.statefulSets {
		for _, c := range s.Spec.Template.Spec.Containers {
			args := strings.Join(c.Args, " ")
			for _, f := range []string{"--raft-tls-ca=", "--raft-tls-cert=", "--raft-tls-key=", "--tls-cert=", "--tls-key="} {
				if !strings.Contains(args, f) {
					t.Errorf("%s/%s: no %s", s.Name, c.Name, f)
				}
			}
			if strings.Contains(args, "--insecure") {
				t.Errorf("%s/%s runs with --insecure", s.Name, c.Name)
			}
		}
	}
	for _, w := range m.workloads() {
		for _, v := range w.spec.Volumes {
			if v.Secret == nil {
				continue
			}
			found := false
			for _, s := range m.secrets {
				found = found || s.Name == v.Secret.SecretName
			}
			if !found {
				t.Errorf("%s: volume %s mounts secret %s, which no manifest defines", w.name, v.Name, v.Secret.SecretName)
			}
		}
	}
}

// TestKubernetesOperations: what keeps the fleet up through drains and
// node loss, and what lets Prometheus find it, in every overlay.
func TestKubernetesOperations(t *testing.T) {
	for _, dir := range overlays {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			m := build(t, dir)
			for _, s := range m.statefulSets {
				var pdb *policyv1.PodDisruptionBudget
				for i := range m.pdbs {
					if m.pdbs[i].Spec.Selector != nil && selects(m.pdbs[i].Spec.Selector.MatchLabels, s.Spec.Template.Labels) {
						pdb = &m.pdbs[i]
					}
				}
				replicas := int(*s.Spec.Replicas)
				if pdb == nil || pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() != 1 || replicas-1 < replicas/2+1 {
					t.Errorf("statefulset %s (%d replicas): want a PodDisruptionBudget of maxUnavailable 1 that keeps the quorum, got %+v", s.Name, replicas, pdb)
				}
				aff := s.Spec.Template.Spec.Affinity
				if aff == nil || aff.PodAntiAffinity == nil ||
					len(aff.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution)+len(aff.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution) == 0 {
					t.Errorf("statefulset %s: no pod anti-affinity: one node could hold the quorum", s.Name)
				}
				if filepath.Base(dir) == "prod" && (len(aff.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution) == 0 || len(s.Spec.Template.Spec.TopologySpreadConstraints) == 0) {
					t.Errorf("statefulset %s: prod must require one pod per node and spread over zones", s.Name)
				}
			}
			for _, d := range m.deployments {
				covered := false
				for _, p := range m.pdbs {
					covered = covered || (p.Spec.Selector != nil && selects(p.Spec.Selector.MatchLabels, d.Spec.Template.Labels))
				}
				if !covered {
					t.Errorf("deployment %s: no PodDisruptionBudget", d.Name)
				}
			}
			// The ServiceMonitor reaches the metrics port of both kinds of pod.
			if len(m.serviceMonitor) != 1 {
				t.Fatalf("%d ServiceMonitors", len(m.serviceMonitor))
			}
			sm := m.serviceMonitor[0]
			scraped := map[string]bool{}
			for _, svc := range m.services {
				if !selects(sm.Spec.Selector.MatchLabels, svc.Labels) {
					continue
				}
				for _, ep := range sm.Spec.Endpoints {
					for _, p := range svc.Spec.Ports {
						if p.Name == ep.Port {
							for _, w := range m.workloads() {
								if selects(svc.Spec.Selector, w.labels) && hasPort(w.spec, p.TargetPort.StrVal) {
									scraped[w.name] = true
								}
							}
						}
					}
				}
			}
			for _, w := range m.workloads() {
				if !scraped[w.name] {
					t.Errorf("the ServiceMonitor does not reach %s's metrics", w.name)
				}
			}
		})
	}
}

// TestKubernetesHardening: every pod runs as the restricted Pod Security
// Standard demands, on the image release pinned in VERSION.
func TestKubernetesHardening(t *testing.T) {
	version, err := os.ReadFile("../VERSION")
	if err != nil {
		t.Fatal(err)
	}
	image := "ghcr.io/nanoedge/nanoedge:" + strings.TrimSpace(string(version))
	for _, dir := range overlays {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			m := build(t, dir)
			if len(m.namespaces) != 1 || m.namespaces[0].Labels["pod-security.kubernetes.io/enforce"] != "restricted" {
				t.Errorf("namespaces %v: want one, enforcing the restricted standard", m.namespaces)
			}
			for obj, ns := range m.namespaced {
				if ns != "nanoedge" {
					t.Errorf("%s is in namespace %q", obj, ns)
				}
			}
			for _, w := range m.workloads() {
				psc := w.spec.SecurityContext
				if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 ||
					psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
					t.Errorf("%s: pod security context %+v: want non-root and seccomp RuntimeDefault", w.name, psc)
				}
				if w.spec.AutomountServiceAccountToken == nil || *w.spec.AutomountServiceAccountToken {
					t.Errorf("%s: mounts a service account token it never uses", w.name)
				}
				for _, c := range w.spec.Containers {
					sc := c.SecurityContext
					if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
						sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
						sc.Capabilities == nil || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" || len(sc.Capabilities.Add) > 0 {
						t.Errorf("%s/%s: container security context %+v: want a read-only root, no privilege escalation, all capabilities dropped", w.name, c.Name, sc)
					}
					if c.Image != image {
						t.Errorf("%s/%s: image %q, want the pinned release %q", w.name, c.Name, c.Image, image)
					}
					if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
						t.Errorf("%s/%s: want cpu and memory requests and a memory limit", w.name, c.Name)
					}
				}
				for _, v := range w.spec.Volumes {
					if v.EmptyDir != nil && v.EmptyDir.SizeLimit == nil {
						t.Errorf("%s: emptyDir %s has no size limit", w.name, v.Name)
					}
				}
			}
		})
	}
}
