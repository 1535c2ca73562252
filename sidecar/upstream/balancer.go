package upstream

import (
	"errors"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"time"

	"github.com/plexus-mesh/plexus/sidecar/config"
)

// ErrNoHealthyHost means every endpoint of every priority is unhealthy,
// ejected or excluded.
var ErrNoHealthyHost = errors.New("no healthy upstream host")

// priorityLevel is the hosts of one priority, across localities.
type priorityLevel struct {
	priority uint32
	hosts    []*Host
}

// hostSet is an immutable set of hosts grouped by priority, lowest first.
type hostSet struct {
	levels []priorityLevel
	all    []*Host
}

// balancer picks hosts.
type balancer struct {
	policy config.LBPolicy
	next   atomic.Uint64 // round robin position
}

// pick chooses a host from the first priority level that has an available
// host not in exclude. Excluded hosts (tried already by this request) are
// used only when nothing else is left, so a retry prefers another host.
func (b *balancer) pick(set *hostSet, now time.Time, exclude []*Host) (*Host, error) {
	for _, level := range set.levels {
		if h := b.pickFrom(level.hosts, now, exclude); h != nil {
			return h, nil
		}
	}
	if len(exclude) > 0 {
		return b.pick(set, now, nil)
	}
	return nil, ErrNoHealthyHost
}

func (b *balancer) pickFrom(hosts []*Host, now time.Time, exclude []*Host) *Host {
	// Gather the candidates on the stack for the common small case.
	var buf [16]*Host
	candidates := buf[:0]
	for _, h := range hosts {
		if h.available(now) && !slices.Contains(exclude, h) {
			candidates = append(candidates, h)
		}
	}
	switch len(candidates) {
	case 0:
		return nil
	case 1:
		return candidates[0]
	}
	switch b.policy {
	case config.Random:
		return weightedRandom(candidates)
	case config.LeastRequest:
		// Power of two choices: the less loaded of two random hosts.
		a := candidates[rand.IntN(len(candidates))]
		c := candidates[rand.IntN(len(candidates))]
		if c.Active() < a.Active() {
			return c
		}
		return a
	default:
		return weightedRoundRobin(candidates, b.next.Add(1)-1)
	}
}

// weightedRoundRobin walks the candidates in turn, each as often as its
// weight.
func weightedRoundRobin(candidates []*Host, n uint64) *Host {
	var total uint64
	for _, h := range candidates {
		total += uint64(h.weight)
	}
	if total == uint64(len(candidates)) { // all weights 1
		return candidates[n%uint64(len(candidates))]
	}
	pos := n % total
	for _, h := range candidates {
		if pos < uint64(h.weight) {
			return h
		}
		pos -= uint64(h.weight)
	}
	return candidates[len(candidates)-1]
}

func weightedRandom(candidates []*Host) *Host {
	var total uint64
	for _, h := range candidates {
		total += uint64(h.weight)
	}
	pos := rand.Uint64N(total)
	for _, h := range candidates {
		if pos < uint64(h.weight) {
			return h
		}
		pos -= uint64(h.weight)
	}
	return candidates[len(candidates)-1]
}
