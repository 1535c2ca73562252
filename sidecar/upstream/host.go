package upstream

import (
	"sync/atomic"
	"time"

	"github.com/plexus-mesh/plexus/sidecar/config"
)

// Host is one endpoint of a cluster with its runtime state. A Host keeps
// its state across endpoint updates as long as its address stays.
type Host struct {
	Addr string
	// Cluster is the mesh cluster the host runs in (its locality's
	// sub-zone): a peer's gateway carries the peer's name.
	Cluster string
	weight  uint32
	health  config.HealthStatus

	active atomic.Int64 // requests in flight, for least request

	// Outlier detection state.
	consecutive5xx atomic.Int32
	consecutiveGW  atomic.Int32
	ejectedUntil   atomic.Int64 // unix nanoseconds; 0 when not ejected
	ejections      atomic.Int32 // times ejected, for the growing ejection time
}

// Active is the number of requests in flight to the host.
func (h *Host) Active() int64 { return h.active.Load() }

// ejected reports whether the host is out of rotation at now.
func (h *Host) ejected(now time.Time) bool {
	until := h.ejectedUntil.Load()
	return until != 0 && now.UnixNano() < until
}

// available reports whether the host may receive new requests.
func (h *Host) available(now time.Time) bool {
	return h.health == config.Healthy && !h.ejected(now)
}

// Started counts a request to the host as in flight.
func (h *Host) Started() { h.active.Add(1) }

// Finished counts a request to the host as done.
func (h *Host) Finished() { h.active.Add(-1) }

// Healthy reports whether the control plane considers the host healthy.
func (h *Host) Healthy() bool { return h.health == config.Healthy }

// Ejected reports whether outlier detection has the host out of rotation.
func (h *Host) Ejected() bool { return h.ejected(time.Now()) }
