package monitoring

import (
	"testing"

	"sigs.k8s.io/yaml"
)

// One Prometheus for two clusters: each target carries its own cluster
// label, and the relabeling that would stamp Options.Cluster on all is
// left out.
func TestPrometheusConfigWithClustersPerTarget(t *testing.T) {
	o := StaticOptions()
	b, err := PrometheusConfig(o, PrometheusSetup{
		ControlPlanes: []Target{{Address: "127.77.1.1:17414", Namespace: "plexus-system", Pod: "operator-east", Cluster: "east"},
			{Address: "127.77.2.1:17414", Namespace: "plexus-system", Pod: "operator-west", Cluster: "west"}},
		Proxies: []Target{{Address: "127.77.1.11:17420", Namespace: "shop", Pod: "frontend", Cluster: "east"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		ScrapeConfigs []struct {
			JobName       string `json:"job_name"`
			StaticConfigs []struct {
				Labels map[string]string `json:"labels"`
			} `json:"static_configs"`
			RelabelConfigs []struct {
				TargetLabel string `json:"target_label"`
			} `json:"relabel_configs"`
		} `json:"scrape_configs"`
	}
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	if len(cfg.ScrapeConfigs) != 2 {
		t.Fatalf("scrape configs %+v", cfg.ScrapeConfigs)
	}
	cp := cfg.ScrapeConfigs[0]
	if cp.StaticConfigs[0].Labels[LabelCluster] != "east" || cp.StaticConfigs[1].Labels[LabelCluster] != "west" {
		t.Errorf("cluster labels %+v", cp.StaticConfigs)
	}
	for _, sc := range cfg.ScrapeConfigs {
		for _, r := range sc.RelabelConfigs {
			if r.TargetLabel == LabelCluster {
				t.Errorf("job %s still stamps %s on every target", sc.JobName, o.Cluster)
			}
		}
	}
}
