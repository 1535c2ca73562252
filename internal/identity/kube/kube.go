package kube

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/plexus-mesh/plexus/internal/identity"
)

// Keys of the CA Secret.
const (
	KeyRoots = "ca.crt"
	KeyKey   = "ca.key"
)

// SecretLoader keeps the CA in the Secret key: it reads it, or creates a
// new root there when there is none. Replicas racing to create it agree:
// the loser reads the winner's. reader must not be a cache.
func SecretLoader(reader client.Reader, writer client.Writer, key client.ObjectKey) identity.Loader {
	return func(ctx context.Context, td spiffeid.TrustDomain) (*identity.CA, error) {
		secret := &corev1.Secret{}
		err := reader.Get(ctx, key, secret)
		if apierrors.IsNotFound(err) {
			if secret, err = newCASecret(key, td); err != nil {
				return nil, err
			}
			err = writer.Create(ctx, secret)
			if apierrors.IsAlreadyExists(err) {
				err = reader.Get(ctx, key, secret)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("CA Secret %s: %w", key, err)
		}
		ca, err := identity.CAFromPEM(td, secret.Data[KeyRoots], secret.Data[KeyKey])
		if err != nil {
			return nil, fmt.Errorf("CA Secret %s: %w", key, err)
		}
		if got := identity.TrustDomainOf(ca.Roots()[0]); got != "" && got != td.IDString() {
			return nil, fmt.Errorf("CA Secret %s holds the CA of %s, not %s: delete it to start a new CA", key, got, td.IDString())
		}
		return ca, nil
	}
}

func newCASecret(key client.ObjectKey, td spiffeid.TrustDomain) (*corev1.Secret, error) {
	root, rootKey, err := identity.NewRoot(td, time.Now())
	if err != nil {
		return nil, err
	}
	keyPEM, err := identity.EncodeKey(rootKey)
	if err != nil {
		return nil, err
	}
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name, Labels: map[string]string{"app.kubernetes.io/managed-by": "plexus-operator"}},
		Data:       map[string][]byte{KeyRoots: identity.EncodeCertificates(identity.RootsOf(root)), KeyKey: keyPEM},
	}, nil
}

// TokenReviews authenticates projected ServiceAccount tokens with the API
// server's TokenReview.
type TokenReviews struct {
	Client client.Client
	// Audience the tokens must be for ("plexus").
	Audience string
	// TrustDomain returns the trust domain in effect.
	TrustDomain func() (spiffeid.TrustDomain, bool)
}

var _ identity.Authenticator = (*TokenReviews)(nil)

// Authenticate implements identity.Authenticator.
func (t *TokenReviews) Authenticate(ctx context.Context, token string) (spiffeid.ID, error) {
	td, ok := t.TrustDomain()
	if !ok {
		return spiffeid.ID{}, errors.New("the mesh has no trust domain yet: create a Mesh")
	}
	if token == "" {
		return spiffeid.ID{}, errors.New("no ServiceAccount token: mount a projected token with audience " + t.Audience)
	}
	review := &authnv1.TokenReview{Spec: authnv1.TokenReviewSpec{Token: token, Audiences: []string{t.Audience}}}
	if err := t.Client.Create(ctx, review); err != nil {
		return spiffeid.ID{}, fmt.Errorf("TokenReview: %w", err)
	}
	st := review.Status
	if !st.Authenticated {
		return spiffeid.ID{}, fmt.Errorf("the API server does not accept the token: %s", st.Error)
	}
	if !slices.Contains(st.Audiences, t.Audience) {
		return spiffeid.ID{}, fmt.Errorf("the token is not for audience %q", t.Audience)
	}
	parts := strings.Split(st.User.Username, ":")
	if len(parts) != 4 || parts[0] != "system" || parts[1] != "serviceaccount" {
		return spiffeid.ID{}, fmt.Errorf("the token belongs to %q, not a ServiceAccount", st.User.Username)
	}
	return identity.WorkloadID(td, parts[2], parts[3])
}
