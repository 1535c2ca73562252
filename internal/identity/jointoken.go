package identity

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// Join tokens stand in for ServiceAccount tokens where there is no
// Kubernetes: a short-lived statement "this bearer is <SPIFFE ID>", signed
// with a key only the control plane (and whoever mints tokens, such as
// plexctl on the same machine) holds.
const joinTokenPrefix = "plx1"

// MaxJoinTokenTTL bounds a join token's life: it is a bearer credential.
const MaxJoinTokenTTL = 24 * time.Hour

type joinClaims struct {
	ID      string `json:"id"`
	Expires int64  `json:"exp"`
}

// MintJoinToken returns a token that proves id until now+ttl.
func MintJoinToken(key []byte, id spiffeid.ID, ttl time.Duration, now time.Time) (string, error) {
	if len(key) < 32 {
		return "", errors.New("the join token key must be at least 32 bytes")
	}
	if ttl <= 0 || ttl > MaxJoinTokenTTL {
		return "", fmt.Errorf("join token lifetime %s: want more than 0 and at most %s", ttl, MaxJoinTokenTTL)
	}
	payload, err := json.Marshal(joinClaims{ID: id.String(), Expires: now.Add(ttl).Unix()})
	if err != nil {
		return "", err
	}
	body := joinTokenPrefix + "." + base64.RawURLEncoding.EncodeToString(payload)
	return body + "." + base64.RawURLEncoding.EncodeToString(joinMAC(key, body)), nil
}

func joinMAC(key []byte, body string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(body))
	return m.Sum(nil)
}

// JoinTokens authenticates join tokens.
type JoinTokens struct {
	Key []byte
	// TrustDomain the proven identities must belong to.
	TrustDomain spiffeid.TrustDomain
	Now         func() time.Time
}

var _ Authenticator = (*JoinTokens)(nil)

// Authenticate implements Authenticator.
func (j *JoinTokens) Authenticate(_ context.Context, token string) (spiffeid.ID, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 || parts[0] != joinTokenPrefix {
		return spiffeid.ID{}, errors.New("not a join token: mint one with 'plexctl join-token'")
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || !hmac.Equal(sig, joinMAC(j.Key, parts[0]+"."+parts[1])) {
		return spiffeid.ID{}, errors.New("the join token's signature is not valid for this control plane")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return spiffeid.ID{}, errors.New("the join token is malformed")
	}
	var c joinClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return spiffeid.ID{}, errors.New("the join token is malformed")
	}
	now := time.Now
	if j.Now != nil {
		now = j.Now
	}
	if now().Unix() >= c.Expires {
		return spiffeid.ID{}, fmt.Errorf("the join token expired at %s: mint a new one", time.Unix(c.Expires, 0).UTC().Format(time.RFC3339))
	}
	id, err := spiffeid.FromString(c.ID)
	if err != nil {
		return spiffeid.ID{}, fmt.Errorf("the join token names %q: %w", c.ID, err)
	}
	if !id.MemberOf(j.TrustDomain) {
		return spiffeid.ID{}, fmt.Errorf("the join token names %s, outside trust domain %s", id, j.TrustDomain)
	}
	return id, nil
}
