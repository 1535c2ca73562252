package kube

import (
	"context"
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/plexus-mesh/plexus/internal/identity"
	"github.com/plexus-mesh/plexus/internal/testenv"
)

var td = spiffeid.RequireTrustDomainFromString("east.example")

func TestAgainstTheAPIServer(t *testing.T) {
	env, err := testenv.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	ctx := context.Background()
	c := env.Client
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}); err != nil {
		t.Fatal(err)
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "reviews"}}
	if err := c.Create(ctx, sa); err != nil {
		t.Fatal(err)
	}
	token := func(audience string) string {
		req := &authnv1.TokenRequest{Spec: authnv1.TokenRequestSpec{Audiences: []string{audience}}}
		if err := c.SubResource("token").Create(ctx, sa, req); err != nil {
			t.Fatal(err)
		}
		return req.Status.Token
	}

	t.Run("TokenReview", func(t *testing.T) {
		reviews := &TokenReviews{Client: c, Audience: "plexus", TrustDomain: func() (spiffeid.TrustDomain, bool) { return td, true }}
		id, err := reviews.Authenticate(ctx, token("plexus"))
		if err != nil {
			t.Fatal(err)
		}
		if id.String() != "spiffe://east.example/ns/shop/sa/reviews" {
			t.Fatalf("identity %s", id)
		}
		// A token for another audience (say, the API server's own) is not
		// a credential for the CA.
		if _, err := reviews.Authenticate(ctx, token("https://kubernetes.default.svc")); err == nil || !strings.Contains(err.Error(), "does not accept the token") {
			t.Fatalf("a token for another audience: %v", err)
		}
		if _, err := reviews.Authenticate(ctx, "garbage"); err == nil {
			t.Fatal("a garbage token was accepted")
		}
	})

	t.Run("CA Secret", func(t *testing.T) {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "plexus-system"}}); err != nil {
			t.Fatal(err)
		}
		key := client.ObjectKey{Namespace: "plexus-system", Name: "plexus-ca"}
		store := &SecretStore{Reader: c, Writer: c, Key: key}
		first, err := store.Load(ctx, td)
		if err != nil {
			t.Fatal(err)
		}
		// A second replica reads the same CA.
		other := &SecretStore{Reader: c, Writer: c, Key: key}
		again, err := other.Load(ctx, td)
		if err != nil {
			t.Fatal(err)
		}
		if !first.Roots[0].Equal(again.Roots[0]) {
			t.Fatal("a second load made a new root instead of reading the Secret")
		}
		// A rotation step is saved and read back, and a replica saving a
		// state it read before that fails instead of undoing it.
		next, changed, err := first.Step(td, "now", time.Hour, time.Now())
		if err != nil || !changed {
			t.Fatalf("step: %v %v", changed, err)
		}
		if err := store.Save(ctx, next); err != nil {
			t.Fatal(err)
		}
		back, err := store.Load(ctx, td)
		if err != nil || back.Phase != identity.PhaseDistributing || len(back.Roots) != 2 || back.NextKey == nil || back.Handled != "now" {
			t.Fatalf("state read back: %+v %v", back, err)
		}
		if err := other.Save(ctx, again); err == nil || !apierrors.IsConflict(errors.Unwrap(err)) {
			t.Fatalf("a stale save: %v, want a conflict", err)
		}
		if _, err := store.Load(ctx, spiffeid.RequireTrustDomainFromString("west.example")); err == nil || !strings.Contains(err.Error(), "holds the CA of spiffe://east.example") {
			t.Fatalf("loading for another trust domain: %v", err)
		}
	})

	t.Run("user-supplied CA Secret", func(t *testing.T) {
		root, key, err := identity.NewRoot(td, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		keyPEM, err := identity.EncodeKey(key)
		if err != nil {
			t.Fatal(err)
		}
		good := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "corp-ca"}, Type: corev1.SecretTypeTLS,
			Data: map[string][]byte{corev1.TLSCertKey: identity.EncodeCertificates([]*x509.Certificate{root}), corev1.TLSPrivateKeyKey: keyPEM}}
		bad := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "no-key"},
			Data: map[string][]byte{corev1.TLSCertKey: identity.EncodeCertificates([]*x509.Certificate{root})}}
		for _, sec := range []*corev1.Secret{good, bad} {
			if err := c.Create(ctx, sec); err != nil {
				t.Fatal(err)
			}
		}
		up, err := UpstreamFromSecret(c, client.ObjectKeyFromObject(good))(ctx)
		if err != nil || !up.Roots[0].Equal(root) {
			t.Fatalf("reading a CA Secret: %v", err)
		}
		if _, err := UpstreamFromSecret(c, client.ObjectKeyFromObject(bad))(ctx); err == nil || !strings.Contains(err.Error(), "tls.key") {
			t.Fatalf("a Secret without its key: %v", err)
		}
	})
}
