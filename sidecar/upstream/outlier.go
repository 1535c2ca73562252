package upstream

import "time"

// Result is the outcome of one request to a host, as outlier detection
// sees it.
type Result int

// Results.
const (
	Success Result = iota
	// ServerError is a 5xx response (or a gRPC server error) that is not a
	// gateway error.
	ServerError
	// GatewayError is a 502, 503 or 504 response or a connection failure,
	// reset or timeout.
	GatewayError
)

// Ejection reasons, as metric labels.
const (
	ReasonConsecutive5xx     = "consecutive_5xx"
	ReasonConsecutiveGateway = "consecutive_gateway_errors"
)

// Report records the result of a request to h, and ejects h when it has
// failed too often in a row. Gateway errors count as 5xx too.
func (c *Cluster) Report(h *Host, r Result) {
	od := c.cfg.OutlierDetection
	if od == nil {
		return
	}
	if r == Success {
		h.consecutive5xx.Store(0)
		h.consecutiveGW.Store(0)
		return
	}
	n5xx := h.consecutive5xx.Add(1)
	var nGW int32
	if r == GatewayError {
		nGW = h.consecutiveGW.Add(1)
	} else {
		h.consecutiveGW.Store(0)
	}
	switch {
	case od.Consecutive5xx > 0 && int(n5xx) >= od.Consecutive5xx:
		c.eject(h, ReasonConsecutive5xx)
	case od.ConsecutiveGatewayErrors > 0 && int(nGW) >= od.ConsecutiveGatewayErrors:
		c.eject(h, ReasonConsecutiveGateway)
	}
}

// eject takes h out of rotation for base ejection time times the number of
// times it has been ejected, capped at the max ejection time, unless that
// would eject more than the max ejection percent of the hosts.
func (c *Cluster) eject(h *Host, reason string) {
	od := c.cfg.OutlierDetection
	c.mu.Lock()
	now := c.now()
	if h.ejected(now) {
		c.mu.Unlock()
		return
	}
	all := c.hosts.Load().all
	ejected := 0
	for _, x := range all {
		if x.ejected(now) {
			ejected++
		}
	}
	allowed := len(all) * od.MaxEjectionPercent / 100
	if allowed == 0 && len(all) > 1 && od.MaxEjectionPercent > 0 {
		allowed = 1 // one host may always be ejected
	}
	if ejected >= allowed {
		c.mu.Unlock()
		return
	}
	// The ejection count decays: a host back for long enough starts over.
	if until := h.ejectedUntil.Load(); until != 0 && now.Sub(time.Unix(0, until)) > od.MaxEjectionTime {
		h.ejections.Store(0)
	}
	n := h.ejections.Add(1)
	d := od.BaseEjectionTime * time.Duration(n)
	if od.MaxEjectionTime > 0 && d > od.MaxEjectionTime {
		d = od.MaxEjectionTime
	}
	h.ejectedUntil.Store(now.Add(d).UnixNano())
	h.consecutive5xx.Store(0)
	h.consecutiveGW.Store(0)
	c.mu.Unlock()
	if c.observer != nil {
		c.observer.Ejected(c.cfg, h, reason)
	}
	c.reportEjected()
}
