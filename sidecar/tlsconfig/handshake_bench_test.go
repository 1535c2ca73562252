package tlsconfig

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/plexus-mesh/plexus/internal/identity"
	"github.com/plexus-mesh/plexus/sidecar/config"
)

// The handshake benchmark measures the server side alone: the server runs
// in a child process (this test binary, running TestHandshakeServer), and
// its CPU time per full handshake comes from /proc.
const (
	envServerCA      = "PLEXUS_HANDSHAKE_SERVER_CA"
	envServerTickets = "PLEXUS_HANDSHAKE_SERVER_TICKETS"
)

// TestHandshakeServer is the benchmarks' server; it does nothing unless
// started by BenchmarkFullMTLSHandshake or BenchmarkResumedMTLSHandshake.
func TestHandshakeServer(t *testing.T) {
	dir := os.Getenv(envServerCA)
	if dir == "" {
		t.Skip("the server process of BenchmarkFullMTLSHandshake")
	}
	ca, err := identity.LoadOrCreateFiles(dir, td, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := Server(proxyMaterial(t, ca, "/ns/bench/sa/server"), &config.DownstreamTLS{CertificateSecret: "default", ValidationSecret: "ROOTCA", RequireClientCert: true})
	if err != nil {
		t.Fatal(err)
	}
	cfg.SessionTicketsDisabled = os.Getenv(envServerTickets) == "" // every handshake in full
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println(ln.Addr().String())
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			_ = c.(*tls.Conn).HandshakeContext(context.Background())
			_, _ = c.Write([]byte{1})
		}()
	}
}

// cpuSeconds is a process's user plus system CPU time.
func cpuSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name, which is in parentheses.
	fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	utime, _ := strconv.ParseFloat(fields[11], 64)
	stime, _ := strconv.ParseFloat(fields[12], 64)
	return (utime + stime) / 100, nil // clock ticks: 100 per second on Linux
}

// BenchmarkFullMTLSHandshake reports the server's CPU per full mTLS
// handshake (ECDSA P-256 SVIDs, TLS 1.3, client certificate verified) and
// the full handshakes one core can do per second, for the mesh's key
// exchange and two others.
func BenchmarkFullMTLSHandshake(b *testing.B) {
	ca, addr, server := startHandshakeServer(b, false)
	client := proxyMaterial(b, ca, "/ns/bench/sa/client")
	base, err := Client(client, &config.UpstreamTLS{CertificateSecret: "default", ValidationSecret: "ROOTCA", SPIFFEIDs: []string{"spiffe://east.example/ns/bench/sa/server"}}, []string{"h2"})
	if err != nil {
		b.Fatal(err)
	}
	base.ClientSessionCache = nil // no resumption: full handshakes only
	// The mesh's key exchange, then Go's default and a classical one for
	// comparison.
	for _, kx := range []struct {
		name   string
		offers []tls.CurveID
	}{
		{"mesh=SecP256r1MLKEM768", KeyExchanges},
		{"X25519MLKEM768", []tls.CurveID{tls.X25519MLKEM768}},
		{"classical=X25519", []tls.CurveID{tls.X25519}},
	} {
		cfg := base.Clone()
		cfg.CurvePreferences = kx.offers
		b.Run(kx.name, func(b *testing.B) { benchmarkHandshakes(b, cfg, addr, server, false) })
	}
}

// BenchmarkResumedMTLSHandshake is what a reconnect between sidecars
// costs the server: the session resumes (no signatures, no certificate
// chain, no ML-KEM) and is verified again against the trust bundle.
func BenchmarkResumedMTLSHandshake(b *testing.B) {
	ca, addr, server := startHandshakeServer(b, true)
	cfg, err := Client(proxyMaterial(b, ca, "/ns/bench/sa/client"), &config.UpstreamTLS{CertificateSecret: "default", ValidationSecret: "ROOTCA", SPIFFEIDs: []string{"spiffe://east.example/ns/bench/sa/server"}}, []string{"h2"})
	if err != nil {
		b.Fatal(err)
	}
	benchmarkHandshakes(b, cfg, addr, server, true)
}

// startHandshakeServer runs TestHandshakeServer in a child process on one
// core (its CPU per handshake without idle threads spinning for work on
// the other), with session tickets or without; it returns the mesh CA
// both sides use, the server's address and its process ID.
func startHandshakeServer(b *testing.B, tickets bool) (*identity.CA, string, int) {
	dir := b.TempDir()
	ca, err := identity.LoadOrCreateFiles(filepath.Join(dir, "ca"), td, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	server := exec.CommandContext(context.Background(), self, "-test.run=^TestHandshakeServer$", "-test.v=false")
	server.Env = append(os.Environ(), envServerCA+"="+filepath.Join(dir, "ca"), "GOMAXPROCS=1")
	if tickets {
		server.Env = append(server.Env, envServerTickets+"=1")
	}
	out, err := server.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := server.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = server.Process.Kill(); _ = server.Wait() })
	addr, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		b.Fatal(err)
	}
	return ca, strings.TrimSpace(addr), server.Process.Pid
}

// benchmarkHandshakes makes a connection per iteration, in parallel, and
// reports the server's CPU per handshake; resumed says whether every
// handshake after the first must resume a session.
func benchmarkHandshakes(b *testing.B, cfg *tls.Config, addr string, server int, resumed bool) {
	handshake := func() error {
		d := tls.Dialer{Config: cfg}
		c, err := d.DialContext(context.Background(), "tcp", addr)
		if err != nil {
			return err
		}
		defer c.Close()
		if _, err = c.Read(make([]byte, 1)); err != nil {
			return err
		}
		if did := c.(*tls.Conn).ConnectionState().DidResume; did != resumed {
			return fmt.Errorf("resumed %v, want %v", did, resumed)
		}
		return nil
	}
	if err := handshake(); err != nil && !resumed { // the first one cannot resume
		b.Fatal(err)
	}
	before, err := cpuSeconds(server)
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := handshake(); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	elapsed := time.Since(start)
	after, err := cpuSeconds(server)
	if err != nil {
		b.Fatal(err)
	}
	perHandshake := (after - before) / float64(b.N)
	b.ReportMetric(perHandshake*1e3, "server-cpu-ms/handshake")
	if perHandshake > 0 {
		b.ReportMetric(1/perHandshake, "handshakes/s/core")
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "handshakes/s")
}
