package webhookcert

import (
	"crypto/x509"
	"strings"
	"testing"
	"time"
)

var hosts = Hosts{"plexus-operator-webhook.plexus-system.svc", "127.0.0.1"}

func TestRenewalDecisions(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m, err := Renew(nil, hosts, start)
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		m     *Material
		hosts Hosts
		at    time.Time
		want  string
	}{
		"none":                 {nil, hosts, start, "no certificate yet"},
		"fresh":                {m, hosts, start.Add(time.Hour), ""},
		"serving cert due":     {m, hosts, start.Add(21 * 24 * time.Hour), "serving certificate expires"},
		"ca due":               {m, hosts, start.Add(250 * 24 * time.Hour), "the CA expires"},
		"new host":             {m, append(Hosts{"other.svc"}, hosts...), start, "does not name other.svc"},
		"ip host is verified":  {m, Hosts{"127.0.0.2"}, start, "does not name 127.0.0.2"},
		"signed by another ca": {&Material{CAs: []*x509.Certificate{mustRenew(t, nil, start).CAs[0]}, Cert: m.Cert}, hosts, start, "not signed by the current CA"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			got := Renewal(c.m, c.hosts, c.at)
			if (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
				t.Fatalf("Renewal = %q, want %q", got, c.want)
			}
		})
	}
}

func mustRenew(t *testing.T, prev *Material, at time.Time) *Material {
	t.Helper()
	m, err := Renew(prev, hosts, at)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// A serving certificate renewal keeps the CA, so the caBundle callers hold
// stays valid; a CA renewal keeps the old CA in the bundle until it expires.
func TestRenewKeepsTrust(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	first := mustRenew(t, nil, start)

	leafOnly := mustRenew(t, first, start.Add(21*24*time.Hour))
	if !leafOnly.CAs[0].Equal(first.CAs[0]) || len(leafOnly.CAs) != 1 {
		t.Fatal("renewing the serving certificate replaced the CA")
	}
	if leafOnly.Cert.Leaf.Equal(first.Cert.Leaf) {
		t.Fatal("the serving certificate was not renewed")
	}

	rotated := mustRenew(t, first, start.Add(250*24*time.Hour))
	if rotated.CAs[0].Equal(first.CAs[0]) || len(rotated.CAs) != 2 || !rotated.CAs[1].Equal(first.CAs[0]) {
		t.Fatalf("after CA rotation the bundle should be [new, old], got %d CAs", len(rotated.CAs))
	}
	if err := rotated.Cert.Leaf.CheckSignatureFrom(rotated.CAs[0]); err != nil {
		t.Fatalf("the new serving certificate is not signed by the new CA: %v", err)
	}
	// Once the old CA has expired it leaves the bundle.
	again := mustRenew(t, rotated, start.Add(500*24*time.Hour))
	for _, c := range again.CAs {
		if c.Equal(first.CAs[0]) {
			t.Fatal("an expired CA stayed in the bundle")
		}
	}
}

func TestSecretRoundTrip(t *testing.T) {
	m := mustRenew(t, mustRenew(t, nil, time.Now().Add(-300*24*time.Hour)), time.Now())
	data, err := m.Data()
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(back.CAs) != 2 || !back.CAs[0].Equal(m.CAs[0]) || !back.Cert.Leaf.Equal(m.Cert.Leaf) || !back.CAKey.Equal(m.CAKey) {
		t.Fatal("material changed through the Secret")
	}
	if Renewal(back, hosts, time.Now()) != "" {
		t.Fatalf("parsed material needs renewal: %s", Renewal(back, hosts, time.Now()))
	}

	broken := map[string]func(d map[string][]byte){
		"no ca":         func(d map[string][]byte) { delete(d, KeyCABundle) },
		"no ca key":     func(d map[string][]byte) { d[KeyCAKey] = []byte("junk") },
		"wrong ca key":  func(d map[string][]byte) { d[KeyCAKey] = mustData(t)[KeyCAKey] },
		"bad leaf pair": func(d map[string][]byte) { d[KeyKey] = mustData(t)[KeyKey] },
	}
	for name, breakIt := range broken {
		d := map[string][]byte{}
		for k, v := range data {
			d[k] = v
		}
		breakIt(d)
		if _, err := Parse(d); err == nil {
			t.Errorf("%s: Parse accepted broken material", name)
		}
	}
}

func mustData(t *testing.T) map[string][]byte {
	d, err := mustRenew(t, nil, time.Now()).Data()
	if err != nil {
		t.Fatal(err)
	}
	return d
}
