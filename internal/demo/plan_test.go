package demo

import (
	"context"
	"net"
	"strings"
	"testing"
)

// A port in use stops the demo before anything starts, naming the address
// and what to do.
func TestBusyPortIsAClearError(t *testing.T) {
	p := Plan{Base: 17600}
	busy := p.Addr(p.Host(eastNet, 1), offXDS)
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", busy)
	if err != nil {
		t.Skipf("cannot occupy %s to test: %v", busy, err)
	}
	defer ln.Close()
	d := &run{o: Options{Base: p.Base}, plan: p}
	err = p.check(d.addresses())
	if err == nil || !strings.Contains(err.Error(), busy+" is in use") || !strings.Contains(err.Error(), "--base-port") {
		t.Fatalf("error %v: want it to name %s and --base-port", err, busy)
	}
	if err := (Plan{Base: 80}).check(nil); err == nil || !strings.Contains(err.Error(), "choose a port from 1024") {
		t.Errorf("a privileged base port: %v", err)
	}
}

// Every address of the plan is distinct: two parts of the demo never
// compete for one.
func TestPlanAddressesAreDistinct(t *testing.T) {
	d := &run{o: Options{Base: DefaultBase, Prometheus: "p", Alertmanager: "a"}, plan: Plan{Base: DefaultBase}}
	seen := map[string]bool{}
	for _, a := range d.addresses() {
		if seen[a] {
			t.Errorf("%s is used twice", a)
		}
		seen[a] = true
	}
}

func TestRunNeedsTheBinaries(t *testing.T) {
	err := Run(context.Background(), Options{BinDir: t.TempDir()}, nil)
	if err == nil || !strings.Contains(err.Error(), "plexus-operator not found") || !strings.Contains(err.Error(), "make build") {
		t.Fatalf("error %v", err)
	}
}
