package identity

import (
	"crypto/ecdsa"
	"crypto/x509"
	"fmt"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// Phase is where a root rotation stands.
type Phase string

// Rotation phases. A rotation replaces the signing root without a moment
// in which a proxy holds a certificate its peers do not trust:
//
//  1. distributing: the new root joins the trust bundle, the old one still
//     signs. Proxies pick up the bundle as they renew.
//  2. switched: once every proxy has renewed, the new root signs; the old
//     one stays trusted for the certificates it signed.
//  3. steady: once those have all been renewed, the old root goes.
const (
	PhaseSteady       Phase = ""
	PhaseDistributing Phase = "distributing"
	PhaseSwitched     Phase = "switched"
)

// RootState is what a CA keeps: its trusted roots (the signing one first),
// the signing key, and the rotation in progress.
type RootState struct {
	Roots []*x509.Certificate
	// Chain is the signing certificate and those above it when the CA
	// issues from an intermediate of a user-supplied CA; empty when
	// Roots[0] signs.
	Chain []*x509.Certificate
	Key   *ecdsa.PrivateKey
	// NextKey is the key of Roots[1] while it is being distributed.
	NextKey *ecdsa.PrivateKey
	Phase   Phase
	// Since is when the phase began.
	Since time.Time
	// Handled is the last rotation request acted on, so that one request
	// rotates once.
	Handled string
}

// NewRootState is a fresh CA for td.
func NewRootState(td spiffeid.TrustDomain, now time.Time) (*RootState, error) {
	root, key, err := NewRoot(td, now)
	if err != nil {
		return nil, err
	}
	return &RootState{Roots: []*x509.Certificate{root}, Key: key}, nil
}

// CA is the CA the state describes.
func (s *RootState) CA(td spiffeid.TrustDomain) (*CA, error) {
	if len(s.Chain) > 0 {
		return New(td, s.Chain, s.Key, s.Roots)
	}
	return New(td, s.Roots[:1], s.Key, s.Roots)
}

// Step advances the state at now. request is the latest rotation request
// ("" for none): a new one starts a rotation. overlap is how long it takes
// every proxy to pick up a new trust bundle or certificate, the workload
// certificate lifetime (proxies renew at half of it). It reports whether
// the state changed and must be saved.
func (s *RootState) Step(td spiffeid.TrustDomain, request string, overlap time.Duration, now time.Time) (*RootState, bool, error) {
	if len(s.Chain) > 0 {
		// A user-supplied root is the user's to rotate; the intermediate
		// under it is renewed by WithUpstream.
		return s, false, nil
	}
	next := *s
	next.Roots = append([]*x509.Certificate(nil), s.Roots...)
	switch s.Phase {
	case PhaseSteady:
		if request == "" || request == s.Handled {
			return s, false, nil
		}
		root, key, err := NewRoot(td, now)
		if err != nil {
			return nil, false, err
		}
		next.Roots = []*x509.Certificate{s.Roots[0], root}
		next.NextKey, next.Phase, next.Since, next.Handled = key, PhaseDistributing, now, request
	case PhaseDistributing:
		if now.Before(s.Since.Add(overlap)) {
			return s, false, nil
		}
		if len(s.Roots) < 2 || s.NextKey == nil {
			return nil, false, fmt.Errorf("rotation state %s has no next root and key", s.Phase)
		}
		next.Roots = []*x509.Certificate{s.Roots[1], s.Roots[0]}
		next.Key, next.NextKey, next.Phase, next.Since = s.NextKey, nil, PhaseSwitched, now
	case PhaseSwitched:
		if now.Before(s.Since.Add(overlap)) {
			return s, false, nil
		}
		next.Roots = s.Roots[:1]
		next.Phase, next.Since = PhaseSteady, now
	default:
		return nil, false, fmt.Errorf("unknown rotation phase %q", s.Phase)
	}
	return &next, true, nil
}
