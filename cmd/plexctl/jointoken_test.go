package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/plexus-mesh/plexus/internal/identity"
)

func TestJoinToken(t *testing.T) {
	dir := t.TempDir()
	if _, err := identity.LoadOrCreateFiles(dir, spiffeid.RequireTrustDomainFromString("east.example"), time.Now()); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, error) {
		cmd := newRootCommand()
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		cmd.SetArgs(args)
		err := cmd.Execute()
		return strings.TrimSpace(out.String()), err
	}
	token, err := run("join-token", "--ca-dir", dir, "--namespace", "shop", "--service-account", "reviews", "--ttl", "10m")
	if err != nil {
		t.Fatal(err)
	}
	key, err := identity.JoinKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	id, err := (&identity.JoinTokens{Key: key, TrustDomain: spiffeid.RequireTrustDomainFromString("east.example")}).Authenticate(context.Background(), token)
	if err != nil || id.String() != "spiffe://east.example/ns/shop/sa/reviews" {
		t.Fatalf("the minted token proves %v (%v)", id, err)
	}
	if _, err := run("join-token", "--ca-dir", t.TempDir(), "--namespace", "shop", "--service-account", "reviews"); err == nil || !strings.Contains(err.Error(), "point --ca-dir") {
		t.Fatalf("an empty CA directory: %v", err)
	}
	if _, err := run("join-token", "--ca-dir", dir, "--namespace", "shop", "--service-account", "reviews", "--ttl", "48h"); err == nil {
		t.Fatal("a 48h token was minted")
	}
}
