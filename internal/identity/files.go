package identity

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
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
	FileRoots    = "ca.pem"
	FileKey      = "ca-key.pem"
	FileNextKey  = "next-key.pem"
	FileRotation = "rotation.json"
	FileChain    = "chain.pem"
	FileJoinKey  = "join.key"
)

// FileStore keeps a CA in a directory: local mode's store.
type FileStore struct{ Dir string }

var _ Store = FileStore{}

// rotationFile is the rotation part of a RootState, as JSON.
type rotationFile struct {
	Phase   Phase     `json:"phase,omitempty"`
	Since   time.Time `json:"since,omitzero"`
	Handled string    `json:"handled,omitempty"`
}

// Load implements Store.
func (f FileStore) Load(_ context.Context, td spiffeid.TrustDomain) (*RootState, error) {
	if err := os.MkdirAll(f.Dir, 0o700); err != nil {
		return nil, err
	}
	certs, err := os.ReadFile(filepath.Join(f.Dir, FileRoots))
	if errors.Is(err, fs.ErrNotExist) {
		return f.create(td)
	}
	if err != nil {
		return nil, err
	}
	s := &RootState{}
	if s.Roots, err = ParseCertificates(certs); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(f.Dir, FileRoots), err)
	}
	keyPEM, err := os.ReadFile(filepath.Join(f.Dir, FileKey))
	if err != nil {
		return nil, err
	}
	if s.Key, err = ParseKey(keyPEM); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(f.Dir, FileKey), err)
	}
	if chain, err := os.ReadFile(filepath.Join(f.Dir, FileChain)); err == nil {
		if s.Chain, err = ParseCertificates(chain); err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Join(f.Dir, FileChain), err)
		}
	}
	if next, err := os.ReadFile(filepath.Join(f.Dir, FileNextKey)); err == nil {
		if s.NextKey, err = ParseKey(next); err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Join(f.Dir, FileNextKey), err)
		}
	}
	if b, err := os.ReadFile(filepath.Join(f.Dir, FileRotation)); err == nil {
		var r rotationFile
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Join(f.Dir, FileRotation), err)
		}
		s.Phase, s.Since, s.Handled = r.Phase, r.Since, r.Handled
	}
	if got := TrustDomainOf(s.Roots[0]); got != "" && got != td.IDString() {
		return nil, fmt.Errorf("the CA in %s is for %s, not %s: move the directory away to start a new CA", f.Dir, got, td.IDString())
	}
	if _, err := JoinKey(f.Dir); err != nil {
		return nil, err
	}
	return s, nil
}

func (f FileStore) create(td spiffeid.TrustDomain) (*RootState, error) {
	s, err := NewRootState(td, time.Now())
	if err != nil {
		return nil, err
	}
	if err := f.Save(context.Background(), s); err != nil {
		return nil, err
	}
	// The join key comes last: once it exists, the whole CA does.
	joinKey := make([]byte, 32)
	if _, err := rand.Read(joinKey); err != nil {
		return nil, err
	}
	path := filepath.Join(f.Dir, FileJoinKey)
	if err := os.WriteFile(path+".tmp", []byte(hex.EncodeToString(joinKey)+"\n"), 0o600); err != nil {
		return nil, err
	}
	return s, os.Rename(path+".tmp", path)
}

// Save implements Store. Each file is replaced whole (written aside, then
// renamed), the roots last, so a reader never sees a half-written file.
func (f FileStore) Save(_ context.Context, s *RootState) error {
	keyPEM, err := EncodeKey(s.Key)
	if err != nil {
		return err
	}
	rotation, err := json.Marshal(rotationFile{Phase: s.Phase, Since: s.Since, Handled: s.Handled})
	if err != nil {
		return err
	}
	files := []struct {
		name string
		data []byte
	}{{FileKey, keyPEM}, {FileRotation, rotation}}
	if s.NextKey != nil {
		next, err := EncodeKey(s.NextKey)
		if err != nil {
			return err
		}
		files = append(files, struct {
			name string
			data []byte
		}{FileNextKey, next})
	} else if err := os.Remove(filepath.Join(f.Dir, FileNextKey)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if len(s.Chain) > 0 {
		files = append(files, struct {
			name string
			data []byte
		}{FileChain, EncodeCertificates(s.Chain)})
	} else if err := os.Remove(filepath.Join(f.Dir, FileChain)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	files = append(files, struct {
		name string
		data []byte
	}{FileRoots, EncodeCertificates(s.Roots)})
	for _, file := range files {
		path := filepath.Join(f.Dir, file.name)
		if err := os.WriteFile(path+".tmp", file.data, 0o600); err != nil {
			return err
		}
		if err := os.Rename(path+".tmp", path); err != nil {
			return err
		}
	}
	return nil
}

// LoadOrCreateFiles returns the CA kept in dir, creating a root (and a
// join token key) on first use.
func LoadOrCreateFiles(dir string, td spiffeid.TrustDomain, _ time.Time) (*CA, error) {
	s, err := FileStore{Dir: dir}.Load(context.Background(), td)
	if err != nil {
		return nil, err
	}
	return s.CA(td)
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
