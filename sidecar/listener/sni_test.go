package listener

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/plexus-mesh/plexus/internal/identity"
)

// TestPeekServerNameReplaysTheHello reads a real ClientHello's server name
// and shows the bytes pass on untouched: a TLS server behind the peek
// completes the handshake with the client.
func TestPeekServerNameReplaysTheHello(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	cert := selfSigned(t, "backend.example")
	done := make(chan error, 1)
	go func() {
		tc := tls.Client(client, &tls.Config{ServerName: "outbound.9080.reviews.shop.svc.clusterset.local", InsecureSkipVerify: true}) //nolint:gosec // the test checks passthrough, not trust
		if err := tc.HandshakeContext(context.Background()); err != nil {
			done <- err
			return
		}
		_, err := tc.Write([]byte("ping"))
		done <- err
	}()
	name, conn, err := peekServerName(server, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if name != "outbound.9080.reviews.shop.svc.clusterset.local" {
		t.Fatalf("server name %q", name)
	}
	ts := tls.Server(conn, &tls.Config{Certificates: []tls.Certificate{cert}})
	if err := ts.HandshakeContext(context.Background()); err != nil {
		t.Fatalf("handshake after the peek: %v", err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(ts, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("read %q, %v", buf, err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestPeekServerNameRefusesPlaintext(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	go func() { _, _ = client.Write([]byte("GET / HTTP/1.1\r\nHost: a\r\n\r\n")) }()
	if _, _, err := peekServerName(server, time.Second); err == nil {
		t.Fatal("a plaintext request passed for a ClientHello")
	}
}

func TestServerNameMatches(t *testing.T) {
	for _, tc := range []struct {
		names []string
		name  string
		want  int
	}{
		{[]string{"a.example"}, "a.example", 2},
		{[]string{"*.example"}, "a.example", 1},
		{[]string{"*.example", "a.example"}, "a.example", 2},
		{[]string{"*.example"}, "example", 0},
		{[]string{"*.example"}, ".example", 0},
		{[]string{"a.example"}, "b.example", 0},
		{[]string{"a.example"}, "", 0},
	} {
		if got := serverNameMatches(tc.names, tc.name); got != tc.want {
			t.Errorf("serverNameMatches(%v, %q) = %d, want %d", tc.names, tc.name, got, tc.want)
		}
	}
}

// selfSigned is a serving certificate for host from a throwaway CA.
func selfSigned(t *testing.T, host string) tls.Certificate {
	t.Helper()
	now := time.Now()
	ca, key, err := identity.NewRoot(spiffeid.RequireTrustDomainFromString("test.example"), now)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := identity.NewServingCertificate(ca, key, []string{host}, now.Add(-time.Minute), now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return *cert
}

// A relay half-closes a sniffed connection: the client reads the end of
// the stream and can still send.
func TestReplayConnHalfCloses(t *testing.T) {
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := (&net.Dialer{}).DialContext(context.Background(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	accepted, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer accepted.Close()
	rc := &replayConn{Conn: accepted, r: accepted}
	if _, err := rc.Write([]byte("bye")); err != nil {
		t.Fatal(err)
	}
	if err := rc.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(client); err != nil || string(got) != "bye" {
		t.Fatalf("client read %q, %v: want the data, then the end of the stream", got, err)
	}
	if _, err := client.Write([]byte("still here")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 10)
	if _, err := io.ReadFull(rc, buf); err != nil || string(buf) != "still here" {
		t.Fatalf("after the half-close the server read %q, %v", buf, err)
	}
}
