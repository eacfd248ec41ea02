package deploy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

const k8sFile = "k8s/rummage-api.yaml"

// object is one Kubernetes object of the manifest, decoded by the fields
// the checks read.
type object struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name   string            `yaml:"name"`
		Labels map[string]string `yaml:"labels"`
	} `yaml:"metadata"`
	Data map[string]string `yaml:"data"`
	Spec struct {
		// Deployment
		Selector *struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
		Template podTemplate `yaml:"template"`
		// Service: selector is a plain map there (decoded by ServiceSpec).
		Ports []struct {
			Name       string `yaml:"name"`
			Port       int    `yaml:"port"`
			TargetPort string `yaml:"targetPort"`
		} `yaml:"ports"`
		// HPA
		ScaleTargetRef struct {
			APIVersion string `yaml:"apiVersion"`
			Kind       string `yaml:"kind"`
			Name       string `yaml:"name"`
		} `yaml:"scaleTargetRef"`
		MinReplicas int `yaml:"minReplicas"`
		MaxReplicas int `yaml:"maxReplicas"`
		Metrics     []struct {
			Type string `yaml:"type"`
			Pods *struct {
				Metric struct {
					Name string `yaml:"name"`
				} `yaml:"metric"`
			} `yaml:"pods"`
		} `yaml:"metrics"`
		// CronJob
		Schedule    string `yaml:"schedule"`
		JobTemplate struct {
			Spec struct {
				Template podTemplate `yaml:"template"`
			} `yaml:"spec"`
		} `yaml:"jobTemplate"`
	} `yaml:"spec"`
	// Role, RoleBinding
	Rules []struct {
		APIGroups     []string `yaml:"apiGroups"`
		Resources     []string `yaml:"resources"`
		ResourceNames []string `yaml:"resourceNames"`
		Verbs         []string `yaml:"verbs"`
	} `yaml:"rules"`
	RoleRef struct {
		Kind, Name string
	} `yaml:"roleRef"`
	Subjects []struct {
		Kind, Name string
	} `yaml:"subjects"`

	node yaml.Node
}

type podTemplate struct {
	Metadata struct {
		Labels map[string]string `yaml:"labels"`
	} `yaml:"metadata"`
	Spec struct {
		ServiceAccountName string      `yaml:"serviceAccountName"`
		Containers         []container `yaml:"containers"`
	} `yaml:"spec"`
}

type container struct {
	Name    string   `yaml:"name"`
	Image   string   `yaml:"image"`
	Command []string `yaml:"command"`
	Args    []string `yaml:"args"`
	Env     []struct {
		Name, Value string
	} `yaml:"env"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	LivenessProbe  *probe `yaml:"livenessProbe"`
	ReadinessProbe *probe `yaml:"readinessProbe"`
}

type probe struct {
	HTTPGet struct {
		Path string `yaml:"path"`
		Port string `yaml:"port"`
	} `yaml:"httpGet"`
}

func (c *container) env(name string) string {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

// manifest is the objects of k8sFile by kind and name.
type manifest map[string]*object

func (m manifest) get(t *testing.T, kind, name string) *object {
	t.Helper()
	o, ok := m[kind+"/"+name]
	if !ok {
		t.Fatalf("%s: no %s named %q", k8sFile, kind, name)
	}
	return o
}

func loadK8s(t *testing.T) manifest {
	t.Helper()
	b, err := os.ReadFile(k8sFile)
	if err != nil {
		t.Fatal(err)
	}
	m := manifest{}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	for {
		o := &object{}
		if err := dec.Decode(&o.node); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("%s: %v", k8sFile, err)
		}
		if err := o.node.Decode(o); err != nil {
			t.Fatalf("%s: %v", k8sFile, err)
		}
		if o.Kind == "" || o.Metadata.Name == "" || o.APIVersion == "" {
			t.Fatalf("%s: an object without apiVersion, kind or name: %+v", k8sFile, o)
		}
		key := o.Kind + "/" + o.Metadata.Name
		if m[key] != nil {
			t.Fatalf("%s: %s twice", k8sFile, key)
		}
		m[key] = o
	}
	return m
}

// subset reports whether every label of sel is in labels.
func subset(sel, labels map[string]string) bool {
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// TestK8sConsistent: the Deployment's selector picks its pods, the Service
// selects them and targets a named container port the probes use, the
// HPA scales the Deployment on the metric the adapter rule produces from
// the API's histogram, and the pre-scale CronJob runs as a service account
// bound to a Role that may patch exactly that HPA, reading the Service's
// /v1/schedule.
func TestK8sConsistent(t *testing.T) {
	m := loadK8s(t)
	dep := m.get(t, "Deployment", "rummage-api")
	pod := dep.Spec.Template
	if dep.Spec.Selector == nil || !subset(dep.Spec.Selector.MatchLabels, pod.Metadata.Labels) {
		t.Errorf("Deployment selector %v does not select its pod labels %v", dep.Spec.Selector, pod.Metadata.Labels)
	}
	if len(pod.Spec.Containers) != 1 {
		t.Fatalf("API pod: %d containers, want 1", len(pod.Spec.Containers))
	}
	api := pod.Spec.Containers[0]
	ports := map[string]int{}
	for _, p := range api.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if len(api.Args) < 3 || api.Args[0] != "serve" || api.Args[1] != "--addr" || api.Args[2] != ":"+strconv.Itoa(ports["http"]) {
		t.Errorf("API args %v: want serve --addr :%d (the container port http)", api.Args, ports["http"])
	}
	for what, p := range map[string]*probe{"/healthz": api.LivenessProbe, "/readyz": api.ReadinessProbe} {
		if p == nil || p.HTTPGet.Path != what || ports[p.HTTPGet.Port] == 0 {
			t.Errorf("probe %s: %+v (ports %v)", what, p, ports)
		}
	}

	svc := m.get(t, "Service", "rummage-api")
	var svcSpec struct {
		Spec struct {
			Selector map[string]string `yaml:"selector"`
		} `yaml:"spec"`
	}
	if err := svc.node.Decode(&svcSpec); err != nil {
		t.Fatal(err)
	}
	if !subset(svcSpec.Spec.Selector, pod.Metadata.Labels) {
		t.Errorf("Service selector %v does not select the API pods %v", svcSpec.Spec.Selector, pod.Metadata.Labels)
	}
	if len(svc.Spec.Ports) != 1 || ports[svc.Spec.Ports[0].TargetPort] == 0 {
		t.Fatalf("Service ports %+v: want one, targeting a named container port of %v", svc.Spec.Ports, ports)
	}
	svcPort := svc.Spec.Ports[0].Port

	hpa := m.get(t, "HorizontalPodAutoscaler", "rummage-api")
	if r := hpa.Spec.ScaleTargetRef; r.Kind != dep.Kind || r.Name != dep.Metadata.Name || r.APIVersion != dep.APIVersion {
		t.Errorf("HPA scales %+v, want the Deployment %s", r, dep.Metadata.Name)
	}
	if hpa.Spec.MinReplicas < 1 || hpa.Spec.MaxReplicas <= hpa.Spec.MinReplicas {
		t.Errorf("HPA replicas %d..%d", hpa.Spec.MinReplicas, hpa.Spec.MaxReplicas)
	}
	rules := m.get(t, "ConfigMap", "rummage-adapter-rules")
	var adapter struct {
		Rules []struct {
			SeriesQuery string `yaml:"seriesQuery"`
			Name        struct{ Matches, As string }
		} `yaml:"rules"`
	}
	if err := yaml.Unmarshal([]byte(rules.Data["config.yaml"]), &adapter); err != nil {
		t.Fatalf("adapter rules: %v", err)
	}
	produced := map[string]string{}
	for _, r := range adapter.Rules {
		produced[r.Name.As] = r.SeriesQuery
	}
	if len(hpa.Spec.Metrics) == 0 {
		t.Fatal("the HPA has no metric")
	}
	for _, mt := range hpa.Spec.Metrics {
		if mt.Type != "Pods" || mt.Pods == nil {
			t.Errorf("HPA metric %+v: want a Pods metric (request rate)", mt)
			continue
		}
		// The API's request histogram (api/metrics.go: http set, request_duration_seconds).
		if q := produced[mt.Pods.Metric.Name]; !strings.HasPrefix(q, "rummage_http_request_duration_seconds_count{") {
			t.Errorf("HPA metric %q is not produced from the API's request histogram by the adapter rules (%v)", mt.Pods.Metric.Name, produced)
		}
	}

	cj := m.get(t, "CronJob", "rummage-prescale")
	if f := strings.Fields(cj.Spec.Schedule); len(f) != 5 {
		t.Errorf("CronJob schedule %q", cj.Spec.Schedule)
	}
	job := cj.Spec.JobTemplate.Spec.Template
	sa := job.Spec.ServiceAccountName
	m.get(t, "ServiceAccount", sa)
	rb := m.get(t, "RoleBinding", sa)
	if !slices.ContainsFunc(rb.Subjects, func(s struct{ Kind, Name string }) bool { return s.Kind == "ServiceAccount" && s.Name == sa }) {
		t.Errorf("RoleBinding %s does not bind the service account %s: %+v", rb.Metadata.Name, sa, rb.Subjects)
	}
	role := m.get(t, rb.RoleRef.Kind, rb.RoleRef.Name)
	mayPatch := false
	for _, r := range role.Rules {
		if slices.Contains(r.APIGroups, "autoscaling") && slices.Contains(r.Resources, "horizontalpodautoscalers") &&
			slices.Contains(r.ResourceNames, hpa.Metadata.Name) && slices.Contains(r.Verbs, "patch") {
			mayPatch = true
		}
	}
	if !mayPatch {
		t.Errorf("Role %s may not patch the HPA %s: %+v", role.Metadata.Name, hpa.Metadata.Name, role.Rules)
	}
	if len(job.Spec.Containers) != 1 {
		t.Fatalf("pre-scale job: %d containers", len(job.Spec.Containers))
	}
	ps := job.Spec.Containers[0]
	u, err := url.Parse(ps.env("SCHEDULE_URL"))
	if err != nil || u.Hostname() != svc.Metadata.Name || u.Port() != strconv.Itoa(svcPort) || u.Path != "/v1/schedule" {
		t.Errorf("SCHEDULE_URL %q: want http://%s:%d/v1/schedule", ps.env("SCHEDULE_URL"), svc.Metadata.Name, svcPort)
	}
	if ps.env("HPA") != hpa.Metadata.Name {
		t.Errorf("pre-scale HPA %q, want %q", ps.env("HPA"), hpa.Metadata.Name)
	}
	base, _ := strconv.Atoi(ps.env("BASE_MIN_REPLICAS"))
	pre, _ := strconv.Atoi(ps.env("PRESCALE_MIN_REPLICAS"))
	if base != hpa.Spec.MinReplicas || pre <= base || pre > hpa.Spec.MaxReplicas {
		t.Errorf("pre-scale floors base %d, pre %d: want base = the HPA's minReplicas %d < pre <= maxReplicas %d", base, pre, hpa.Spec.MinReplicas, hpa.Spec.MaxReplicas)
	}
}

// TestK8sPrescaleScript runs the CronJob's script with curl answering a
// /v1/schedule body and kubectl recording its arguments: an event inside
// the lead raises the HPA's floor, one beyond it (or none) restores it.
func TestK8sPrescaleScript(t *testing.T) {
	if _, err := exec.LookPath("jq"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("jq is needed to run the pre-scale script")
		}
		t.Skip("jq is not installed")
	}
	m := loadK8s(t)
	ps := m.get(t, "CronJob", "rummage-prescale").Spec.JobTemplate.Spec.Template.Spec.Containers[0]
	if len(ps.Command) != 2 || ps.Command[0] != "/bin/sh" || len(ps.Args) != 1 {
		t.Fatalf("pre-scale command %v args %d: want /bin/sh -ec SCRIPT", ps.Command, len(ps.Args))
	}
	lead, _ := strconv.Atoi(ps.env("PRESCALE_LEAD_MINUTES"))
	now := time.Date(2026, 12, 3, 12, 0, 0, 123456789, time.UTC)
	for _, tc := range []struct {
		name   string
		events []time.Duration
		floor  string
	}{
		{"a drop inside the lead", []time.Duration{time.Duration(lead)*time.Minute - time.Second}, ps.env("PRESCALE_MIN_REPLICAS")},
		{"an event beyond the lead", []time.Duration{time.Duration(lead)*time.Minute + time.Minute}, ps.env("BASE_MIN_REPLICAS")},
		{"nothing scheduled", nil, ps.env("BASE_MIN_REPLICAS")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			var evs []string
			for _, d := range tc.events {
				evs = append(evs, fmt.Sprintf(`{"kind":"drop","at":%q,"listings":3}`, now.Add(d).Format(time.RFC3339Nano)))
			}
			body := fmt.Sprintf(`{"server_time":%q,"events":[%s]}`, now.Format(time.RFC3339Nano), strings.Join(evs, ","))
			writeStub(t, dir, "curl", "cat <<'JSON'\n"+body+"\nJSON\n")
			writeStub(t, dir, "kubectl", `printf '%s\n' "$@" > "$STUB_DIR/kubectl.args"`+"\n")
			cmd := exec.Command(ps.Command[0], ps.Command[1], ps.Args[0])
			cmd.Env = append(os.Environ(), "PATH="+dir+":"+os.Getenv("PATH"), "STUB_DIR="+dir)
			for _, e := range ps.Env {
				cmd.Env = append(cmd.Env, e.Name+"="+e.Value)
			}
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("script: %v\n%s", err, out)
			}
			args, err := os.ReadFile(filepath.Join(dir, "kubectl.args"))
			if err != nil {
				t.Fatalf("kubectl was not run: %v\n%s", err, out)
			}
			want := strings.Join([]string{"patch", "hpa", ps.env("HPA"), "--type", "merge", "-p", `{"spec":{"minReplicas":` + tc.floor + `}}`}, "\n") + "\n"
			if string(args) != want {
				t.Errorf("kubectl %q, want %q", args, want)
			}
		})
	}
}

func writeStub(t *testing.T, dir, name, script string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"+script), 0o755); err != nil {
		t.Fatal(err)
	}
}

// TestK8sFlagsExist: the API container's flags exist in "rummage serve".
func TestK8sFlagsExist(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the rummage binary")
	}
	api := loadK8s(t).get(t, "Deployment", "rummage-api").Spec.Template.Spec.Containers[0]
	checkFlags(t, buildBinary(t), api.Args, k8sFile)
}
