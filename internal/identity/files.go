package identity

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// Files in a local CA directory.
const (
	FileRoots   = "ca.pem"
	FileKey     = "ca-key.pem"
	FileJoinKey = "join.key"
)

// LoadOrCreateFiles returns the CA kept in dir, creating a root (and a
// join token key) on first use. Local mode keeps its CA this way.
func LoadOrCreateFiles(dir string, td spiffeid.TrustDomain, now time.Time) (*CA, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	certs, errC := os.ReadFile(filepath.Join(dir, FileRoots))
	key, errK := os.ReadFile(filepath.Join(dir, FileKey))
	switch {
	case errC == nil && errK == nil:
		ca, err := CAFromPEM(td, certs, key)
		if err != nil {
			return nil, fmt.Errorf("the CA in %s: %w (move the directory away to start a new CA)", dir, err)
		}
		if _, err := JoinKey(dir); err != nil {
			return nil, err
		}
		return ca, nil
	case !errors.Is(errC, fs.ErrNotExist) && errC != nil:
		return nil, errC
	case !errors.Is(errK, fs.ErrNotExist) && errK != nil:
		return nil, errK
	}
	root, rootKey, err := NewRoot(td, now)
	if err != nil {
		return nil, err
	}
	keyPEM, err := EncodeKey(rootKey)
	if err != nil {
		return nil, err
	}
	joinKey := make([]byte, 32)
	if _, err := rand.Read(joinKey); err != nil {
		return nil, err
	}
	for name, data := range map[string][]byte{
		FileKey: keyPEM, FileRoots: EncodeCertificates([]*x509.Certificate{root}), FileJoinKey: []byte(hex.EncodeToString(joinKey) + "\n"),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			return nil, err
		}
	}
	return New(td, []*x509.Certificate{root}, rootKey, []*x509.Certificate{root})
}

// JoinKey reads the join token key of the CA in dir.
func JoinKey(dir string) ([]byte, error) {
	data, err := os.ReadFile(filepath.Join(dir, FileJoinKey))
	if err != nil {
		return nil, fmt.Errorf("join token key: %w", err)
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(data)))
	if err != nil || len(key) < 32 {
		return nil, fmt.Errorf("%s: want at least 32 hex-encoded bytes", filepath.Join(dir, FileJoinKey))
	}
	return key, nil
}
