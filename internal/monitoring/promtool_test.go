package monitoring

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"sigs.k8s.io/yaml"
)

// promtool finds promtool: in PLEXUS_PROMETHEUS_BIN, which make test sets
// from hack/prometheus.sh, or on PATH.
func promtool(t *testing.T) string {
	t.Helper()
	if dir := os.Getenv("PLEXUS_PROMETHEUS_BIN"); dir != "" {
		p := filepath.Join(dir, "promtool")
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("PLEXUS_PROMETHEUS_BIN=%s has no promtool: %v", dir, err)
		}
		return p
	}
	p, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not found: run make test, which provides it through hack/prometheus.sh, or set PLEXUS_PROMETHEUS_BIN")
	}
	return p
}

// testOptions are the defaults plus the overrides the test files rely on:
// payments has a 99% availability and a 95% latency objective.
func testOptions() Options {
	o := StaticOptions()
	o.Overrides = []ServiceSLO{{Namespace: "shop", Name: "payments", Availability: 0.99, Latency: 0.95}}
	return o
}

func runPromtool(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.CommandContext(context.Background(), promtool(t), args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %v: %v\n%s", args, err, out)
	}
	t.Logf("promtool %v:\n%s", args, out)
}

func TestRulesPassPromtoolCheck(t *testing.T) {
	dir := t.TempDir()
	rules, err := RuleFile(testOptions())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), rules, 0o644); err != nil {
		t.Fatal(err)
	}
	runPromtool(t, dir, "check", "rules", "rules.yaml")
}

// TestAlertsFireAndStaySilent runs the promtool unit tests in
// testdata/promtool against the generated rules. Annotations are left out
// of the rules under test: promtool compares them verbatim, and they are
// checked by TestRulesPassPromtoolCheck and the end-to-end test.
func TestAlertsFireAndStaySilent(t *testing.T) {
	dir := t.TempDir()
	o := testOptions()
	groups := RuleGroups(o)
	for i := range groups {
		for j := range groups[i].Rules {
			groups[i].Rules[j].Annotations = nil
		}
	}
	rules, err := yaml.Marshal(map[string]any{"groups": groups})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), rules, 0o644); err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob("testdata/promtool/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no promtool tests in testdata/promtool: %v", err)
	}
	fires, silent := map[string]bool{}, map[string]bool{}
	args := []string{"test", "rules"}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var suite struct {
			Tests []struct {
				AlertRuleTest []struct {
					AlertName string `json:"alertname"`
					ExpAlerts []any  `json:"exp_alerts"`
				} `json:"alert_rule_test"`
			} `json:"tests"`
		}
		if err := yaml.Unmarshal(data, &suite); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, tc := range suite.Tests {
			for _, a := range tc.AlertRuleTest {
				if len(a.ExpAlerts) > 0 {
					fires[a.AlertName] = true
				} else {
					silent[a.AlertName] = true
				}
			}
		}
		name := filepath.Base(f)
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, name)
	}
	for _, a := range Alerts() {
		if !fires[a] {
			t.Errorf("alert %s has no promtool test in which it fires", a)
		}
		if !silent[a] {
			t.Errorf("alert %s has no promtool test in which it stays silent", a)
		}
	}
	for a := range fires {
		if !slices.Contains(Alerts(), a) {
			t.Errorf("testdata/promtool tests alert %s, which the rules do not define", a)
		}
	}
	runPromtool(t, dir, args...)
}
