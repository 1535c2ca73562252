// Package admin serves a proxy's admin API on a local port: readiness,
// Prometheus metrics, the configuration it holds (as xDS JSON, secrets
// redacted) and the runtime state of its clusters.
package admin

import (
	"encoding/json"
	"net/http"
	"net/http/pprof"
	"sort"

	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/plexus-mesh/plexus/sidecar/config"
	"github.com/plexus-mesh/plexus/sidecar/upstream"
)

// Source is the proxy the admin API describes.
type Source interface {
	Snapshot() *config.Snapshot
	Clusters() map[string]*upstream.Cluster
	// Ready reports whether the proxy should receive traffic, and why not.
	Ready() (bool, string)
}

// Handler returns the admin API.
func Handler(src Source, reg *prometheus.Registry) http.Handler {
	mux := statusMux(src, reg)
	mux.HandleFunc("GET /config_dump", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, configDump(src.Snapshot()))
	})
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, stats(src.Clusters()))
	})
	// Profiles, for finding hot spots in a running proxy. The admin port
	// listens on localhost only by default.
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	return mux
}

// StatusHandler serves only /ready and /metrics: what kubelet probes and
// Prometheus need on the pod's address, without the configuration and
// profiles the full admin API exposes.
func StatusHandler(src Source, reg *prometheus.Registry) http.Handler {
	return statusMux(src, reg)
}

func statusMux(src Source, reg *prometheus.Registry) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ready", func(w http.ResponseWriter, _ *http.Request) {
		ok, why := src.Ready()
		if !ok {
			http.Error(w, "not ready: "+why, http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	return mux
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// ConfigDump is the body of /config_dump.
type ConfigDump struct {
	Versions  map[string]string            `json:"versions"`
	Resources map[string][]json.RawMessage `json:"resources"`
}

func configDump(s *config.Snapshot) ConfigDump {
	out := ConfigDump{Versions: s.Versions, Resources: map[string][]json.RawMessage{}}
	for typeURL, list := range s.Raw {
		for _, a := range list {
			m, err := a.UnmarshalNew()
			if err != nil {
				continue
			}
			if typeURL == resourcev3.SecretType {
				m = redact(m)
			}
			b, err := protojson.Marshal(m)
			if err != nil {
				continue
			}
			out.Resources[typeURL] = append(out.Resources[typeURL], b)
		}
	}
	return out
}

// redact removes private keys: the dump may be shared in bug reports.
func redact(m proto.Message) proto.Message {
	s, ok := m.(*tlsv3.Secret)
	if !ok {
		return m
	}
	s = proto.Clone(s).(*tlsv3.Secret)
	if c := s.GetTlsCertificate(); c != nil {
		c.PrivateKey = nil
	}
	return s
}

// ClusterStats is one cluster in /stats.
type ClusterStats struct {
	Name      string      `json:"name"`
	Service   string      `json:"service,omitempty"`
	Namespace string      `json:"namespace,omitempty"`
	LB        string      `json:"lb"`
	Hosts     []HostStats `json:"hosts"`
}

// HostStats is one endpoint in /stats.
type HostStats struct {
	Address string `json:"address"`
	Healthy bool   `json:"healthy"`
	Ejected bool   `json:"ejected"`
	Active  int64  `json:"active_requests"`
}

func stats(clusters map[string]*upstream.Cluster) []ClusterStats {
	out := make([]ClusterStats, 0, len(clusters))
	for name, c := range clusters {
		cs := ClusterStats{Name: name, Service: c.Config().Service.Name, Namespace: c.Config().Service.Namespace, LB: c.Config().LB.String(), Hosts: []HostStats{}}
		for _, h := range c.Hosts() {
			cs.Hosts = append(cs.Hosts, HostStats{Address: h.Addr, Healthy: h.Healthy(), Ejected: h.Ejected(), Active: h.Active()})
		}
		out = append(out, cs)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
