package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"slices"
	"sort"
	"time"
)

// ControlStatus is what the demo's control API reports.
type ControlStatus struct {
	Faults   map[string]Fault `json:"faults"`
	Gateways map[string]bool  `json:"gateways"` // running, by cluster
	Canary   int              `json:"canaryPercent"`
	Sent     int              `json:"requestsSent"`
	Failed   int              `json:"requestsFailed"`
	// Workloads are those faults can be injected into.
	Workloads []string `json:"workloads"`
}

// serveControl serves the API plexctl demo's subcommands use to break and
// change the running demo.
func (d *run) serveControl() error {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, d.status()) })
	mux.HandleFunc("POST /faults/{workload}", d.setFault)
	mux.HandleFunc("POST /gateways/{cluster}/{action}", d.gateway)
	mux.HandleFunc("POST /canary/{percent}", d.setCanary)
	// A web page can send simple cross-site POSTs to 127.0.0.1, but not
	// ones with a JSON body type: only plexctl changes the demo.
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.Header.Get("Content-Type") != "application/json" {
			fail(w, http.StatusUnsupportedMediaType, "send Content-Type: application/json (use plexctl demo)")
			return
		}
		mux.ServeHTTP(w, r)
	})
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", d.plan.Local(offControl))
	if err != nil {
		return err
	}
	d.control = &http.Server{Handler: handler, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = d.control.Serve(ln) }()
	return nil
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, code int, format string, args ...any) {
	writeJSON(w, code, map[string]string{"error": fmt.Sprintf(format, args...)})
}

func (d *run) status() ControlStatus {
	d.mu.Lock()
	st := ControlStatus{Faults: d.faults.all(), Gateways: map[string]bool{}, Canary: d.canary}
	d.mu.Unlock()
	st.Sent, st.Failed = d.load.counts()
	for _, c := range d.clusters() {
		st.Gateways[c.name] = d.procs.isRunning("gateway-" + c.name)
	}
	for _, w := range workloads {
		if w.app != "" {
			st.Workloads = append(st.Workloads, w.name)
		}
	}
	sort.Strings(st.Workloads)
	return st
}

func (d *run) setFault(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("workload")
	if wl, ok := workloadNamed(name); !ok || wl.app == "" {
		fail(w, http.StatusNotFound, "no workload %q takes faults: choose one of %v", name, d.status().Workloads)
		return
	}
	var f Fault
	if err := json.NewDecoder(r.Body).Decode(&f); err != nil {
		fail(w, http.StatusBadRequest, "want {\"errorRate\": 0.5, \"delay\": 200000000}: %v", err)
		return
	}
	if f.ErrorRate < 0 || f.ErrorRate > 1 || f.Delay < 0 || f.Delay > time.Minute {
		fail(w, http.StatusBadRequest, "errorRate must be 0 to 1 and delay 0 to 1m")
		return
	}
	d.faults.set(name, f)
	writeJSON(w, http.StatusOK, d.status())
}

func (d *run) gateway(w http.ResponseWriter, r *http.Request) {
	name, action := r.PathValue("cluster"), r.PathValue("action")
	i := slices.IndexFunc(d.clusters(), func(c *cluster) bool { return c.name == name })
	if i < 0 {
		fail(w, http.StatusNotFound, "no cluster %q: the demo runs east and west", name)
		return
	}
	c := d.clusters()[i]
	// One gateway action at a time, so that two starts cannot both see
	// the gateway stopped.
	d.mu.Lock()
	defer d.mu.Unlock()
	var err error
	switch action {
	case "stop":
		err = d.procs.stop("gateway-" + name)
	case "start":
		if d.procs.isRunning("gateway-" + name) {
			err = fmt.Errorf("%s's gateway is running", name)
			break
		}
		err = d.startGateway(c)
	default:
		fail(w, http.StatusNotFound, "action %q: use stop or start", action)
		return
	}
	if err != nil {
		fail(w, http.StatusConflict, "%v", err)
		return
	}
	writeJSON(w, http.StatusOK, d.status())
}

func (d *run) setCanary(w http.ResponseWriter, r *http.Request) {
	var pct int
	if _, err := fmt.Sscan(r.PathValue("percent"), &pct); err != nil || pct < 0 || pct > 100 {
		fail(w, http.StatusBadRequest, "canary percent %q: want 0 to 100", r.PathValue("percent"))
		return
	}
	d.mu.Lock()
	err := d.east.write("canary", canaryYAML(pct))
	if err == nil {
		d.canary = pct
	}
	d.mu.Unlock()
	if err != nil {
		fail(w, http.StatusInternalServerError, "%v", err)
		return
	}
	writeJSON(w, http.StatusOK, d.status())
}
