package webhookcert

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Config configures a Keeper.
type Config struct {
	// Reader reads the Secret past any cache: the Keeper must see what the
	// other replicas wrote.
	Reader client.Reader
	// Writer creates and updates the Secret.
	Writer client.Writer
	// Secret names the Secret that holds the material.
	Secret client.ObjectKey
	// Hosts are the names callers reach the webhook by.
	Hosts Hosts
	// Elected is closed once this replica may write the Secret (it leads);
	// nil means it always may.
	Elected <-chan struct{}
	// Interval between checks. Default: one minute.
	Interval time.Duration
	// Now is the clock. Default: time.Now.
	Now func() time.Time
	// OnBundleChange is called after the CA bundle changed, so that the
	// webhook configurations can be updated.
	OnBundleChange func()
	Log            logr.Logger
}

// Keeper keeps the webhook's TLS material in its Secret valid, and serves
// the current certificate to the webhook server. Every replica runs one:
// the leader renews, the others follow the Secret.
type Keeper struct {
	cfg Config

	mu     sync.RWMutex
	cert   *tls.Certificate
	bundle []byte
}

// NewKeeper returns a Keeper; Start runs it.
func NewKeeper(cfg Config) *Keeper {
	if cfg.Interval == 0 {
		cfg.Interval = time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.OnBundleChange == nil {
		cfg.OnBundleChange = func() {}
	}
	return &Keeper{cfg: cfg}
}

// NeedLeaderElection is false: every replica serves the webhook.
func (k *Keeper) NeedLeaderElection() bool { return false }

// Start checks the material now and then every Interval until ctx ends.
func (k *Keeper) Start(ctx context.Context) error {
	t := time.NewTicker(k.cfg.Interval)
	defer t.Stop()
	for {
		if err := k.Sync(ctx); err != nil {
			k.cfg.Log.Error(err, "webhook certificate", "secret", k.cfg.Secret.String())
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-k.cfg.Elected:
			// Check at once on becoming leader; nil the channel so the
			// closed channel does not spin the loop.
			k.cfg.Elected = nil
		}
	}
}

func (k *Keeper) mayWrite() bool {
	if k.cfg.Elected == nil {
		return true
	}
	select {
	case <-k.cfg.Elected:
		return true
	default:
		return false
	}
}

// Sync reads the Secret, renews the material if it is due and this
// replica may write, and serves what the Secret holds.
func (k *Keeper) Sync(ctx context.Context) error {
	secret := &corev1.Secret{}
	err := k.cfg.Reader.Get(ctx, k.cfg.Secret, secret)
	exists := err == nil
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("reading Secret %s: %w", k.cfg.Secret, err)
	}
	var current *Material
	if exists {
		if current, err = Parse(secret.Data); err != nil {
			k.cfg.Log.Info("webhook Secret holds unusable material; replacing it", "secret", k.cfg.Secret.String(), "problem", err.Error())
		}
	}
	if reason := Renewal(current, k.cfg.Hosts, k.cfg.Now()); reason != "" {
		if !k.mayWrite() {
			if current == nil {
				return errors.New("waiting for the leader to create the webhook certificate")
			}
		} else {
			renewed, err := Renew(current, k.cfg.Hosts, k.cfg.Now())
			if err != nil {
				return err
			}
			if err := k.write(ctx, secret, exists, renewed); err != nil {
				return err
			}
			k.cfg.Log.Info("renewed the webhook certificate", "reason", reason, "notAfter", renewed.Cert.Leaf.NotAfter)
			current = renewed
		}
	}
	k.serve(current)
	return nil
}

func (k *Keeper) write(ctx context.Context, secret *corev1.Secret, exists bool, m *Material) error {
	data, err := m.Data()
	if err != nil {
		return err
	}
	if !exists {
		secret = &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: k.cfg.Secret.Name, Namespace: k.cfg.Secret.Namespace,
				Labels: map[string]string{"app.kubernetes.io/managed-by": "plexus-operator"}},
			Type: corev1.SecretTypeOpaque,
			Data: data,
		}
		if err := k.cfg.Writer.Create(ctx, secret); err != nil {
			return fmt.Errorf("creating Secret %s: %w", k.cfg.Secret, err)
		}
		return nil
	}
	// The update carries the resourceVersion read, so two writers cannot
	// both win: the loser gets a conflict and reads the winner's next time.
	secret.Data = data
	if err := k.cfg.Writer.Update(ctx, secret); err != nil {
		return fmt.Errorf("updating Secret %s: %w", k.cfg.Secret, err)
	}
	return nil
}

func (k *Keeper) serve(m *Material) {
	bundle := m.CABundle()
	k.mu.Lock()
	changed := !bytes.Equal(bundle, k.bundle)
	k.cert, k.bundle = m.Cert, bundle
	k.mu.Unlock()
	if changed {
		k.cfg.OnBundleChange()
	}
}

// GetCertificate serves the current certificate; it fits
// tls.Config.GetCertificate.
func (k *Keeper) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	if k.cert == nil {
		return nil, errors.New("the webhook certificate is not ready yet")
	}
	return k.cert, nil
}

// CABundle is the PEM bundle that verifies the served certificate; nil
// until the first Sync succeeds.
func (k *Keeper) CABundle() []byte {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.bundle
}
