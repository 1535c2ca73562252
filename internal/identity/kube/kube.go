package kube

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
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
	KeyRoots    = "ca.crt"
	KeyKey      = "ca.key"
	KeyNextKey  = "next.key"
	KeyRotation = "rotation"
	KeyChain    = "chain.crt"
)

// SecretStore keeps the CA in a Secret; every replica reads the same one.
// Saves carry the resourceVersion last read, so two writers cannot both
// win.
type SecretStore struct {
	// Reader must not be a cache: replicas must see each other's writes.
	Reader client.Reader
	Writer client.Writer
	Key    client.ObjectKey

	mu   sync.Mutex
	last *corev1.Secret
}

var _ identity.Store = (*SecretStore)(nil)

// rotation is the rotation part of the state, as JSON in the Secret.
type rotation struct {
	Phase   identity.Phase `json:"phase,omitempty"`
	Since   time.Time      `json:"since,omitzero"`
	Handled string         `json:"handled,omitempty"`
}

// Load implements identity.Store; replicas racing to create the Secret
// agree, the loser reading the winner's.
func (s *SecretStore) Load(ctx context.Context, td spiffeid.TrustDomain) (*identity.RootState, error) {
	secret := &corev1.Secret{}
	err := s.Reader.Get(ctx, s.Key, secret)
	if apierrors.IsNotFound(err) {
		var st *identity.RootState
		if st, err = identity.NewRootState(td, time.Now()); err != nil {
			return nil, err
		}
		if secret, err = s.secret(nil, st); err != nil {
			return nil, err
		}
		err = s.Writer.Create(ctx, secret)
		if apierrors.IsAlreadyExists(err) {
			err = s.Reader.Get(ctx, s.Key, secret)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("CA Secret %s: %w", s.Key, err)
	}
	st, err := parseState(secret)
	if err != nil {
		return nil, fmt.Errorf("CA Secret %s: %w", s.Key, err)
	}
	if got := identity.TrustDomainOf(st.Roots[0]); got != "" && got != td.IDString() {
		return nil, fmt.Errorf("CA Secret %s holds the CA of %s, not %s: delete it to start a new CA", s.Key, got, td.IDString())
	}
	s.mu.Lock()
	s.last = secret
	s.mu.Unlock()
	return st, nil
}

// Save implements identity.Store.
func (s *SecretStore) Save(ctx context.Context, st *identity.RootState) error {
	s.mu.Lock()
	last := s.last
	s.mu.Unlock()
	if last == nil {
		return errors.New("load the CA before saving it")
	}
	secret, err := s.secret(last.DeepCopy(), st)
	if err != nil {
		return err
	}
	if err := s.Writer.Update(ctx, secret); err != nil {
		return fmt.Errorf("CA Secret %s: %w", s.Key, err)
	}
	s.mu.Lock()
	s.last = secret
	s.mu.Unlock()
	return nil
}

func (s *SecretStore) secret(base *corev1.Secret, st *identity.RootState) (*corev1.Secret, error) {
	if base == nil {
		base = &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: s.Key.Namespace, Name: s.Key.Name,
			Labels: map[string]string{"app.kubernetes.io/managed-by": "plexus-operator"}}}
	}
	key, err := identity.EncodeKey(st.Key)
	if err != nil {
		return nil, err
	}
	rot, err := json.Marshal(rotation{Phase: st.Phase, Since: st.Since, Handled: st.Handled})
	if err != nil {
		return nil, err
	}
	base.Data = map[string][]byte{KeyRoots: identity.EncodeCertificates(st.Roots), KeyKey: key, KeyRotation: rot}
	if len(st.Chain) > 0 {
		base.Data[KeyChain] = identity.EncodeCertificates(st.Chain)
	}
	if st.NextKey != nil {
		next, err := identity.EncodeKey(st.NextKey)
		if err != nil {
			return nil, err
		}
		base.Data[KeyNextKey] = next
	}
	return base, nil
}

func parseState(secret *corev1.Secret) (*identity.RootState, error) {
	st := &identity.RootState{}
	var err error
	if st.Roots, err = identity.ParseCertificates(secret.Data[KeyRoots]); err != nil {
		return nil, fmt.Errorf("%s: %w", KeyRoots, err)
	}
	if st.Key, err = identity.ParseKey(secret.Data[KeyKey]); err != nil {
		return nil, fmt.Errorf("%s: %w", KeyKey, err)
	}
	if chain, ok := secret.Data[KeyChain]; ok {
		if st.Chain, err = identity.ParseCertificates(chain); err != nil {
			return nil, fmt.Errorf("%s: %w", KeyChain, err)
		}
	}
	if next, ok := secret.Data[KeyNextKey]; ok {
		if st.NextKey, err = identity.ParseKey(next); err != nil {
			return nil, fmt.Errorf("%s: %w", KeyNextKey, err)
		}
	}
	if r, ok := secret.Data[KeyRotation]; ok {
		var rot rotation
		if err := json.Unmarshal(r, &rot); err != nil {
			return nil, fmt.Errorf("%s: %w", KeyRotation, err)
		}
		st.Phase, st.Since, st.Handled = rot.Phase, rot.Since, rot.Handled
	}
	return st, nil
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

// UpstreamFromSecret reads a user-supplied CA from a kubernetes.io/tls
// Secret: tls.crt (the CA certificate, then any above it), tls.key, and
// optionally ca.crt (the trust anchors; default: the top of tls.crt).
func UpstreamFromSecret(reader client.Reader, key client.ObjectKey) identity.UpstreamSource {
	return func(ctx context.Context) (*identity.Upstream, error) {
		secret := &corev1.Secret{}
		if err := reader.Get(ctx, key, secret); err != nil {
			return nil, fmt.Errorf("rootCASecretRef %s: %w", key, err)
		}
		up := &identity.Upstream{}
		var err error
		if up.Chain, err = identity.ParseCertificates(secret.Data[corev1.TLSCertKey]); err != nil {
			return nil, fmt.Errorf("rootCASecretRef %s: %s: %w", key, corev1.TLSCertKey, err)
		}
		if up.Key, err = identity.ParseKey(secret.Data[corev1.TLSPrivateKeyKey]); err != nil {
			return nil, fmt.Errorf("rootCASecretRef %s: %s: %w (the mesh CA needs an ECDSA key)", key, corev1.TLSPrivateKeyKey, err)
		}
		if ca, ok := secret.Data["ca.crt"]; ok && len(ca) > 0 {
			if up.Roots, err = identity.ParseCertificates(ca); err != nil {
				return nil, fmt.Errorf("rootCASecretRef %s: ca.crt: %w", key, err)
			}
		}
		if err := up.Validate(); err != nil {
			return nil, fmt.Errorf("rootCASecretRef %s: %w", key, err)
		}
		return up, nil
	}
}
