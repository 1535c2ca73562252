package config

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
)

// CompileSecret compiles an SDS Secret, checking that the PEM parses and
// that a certificate matches its key.
func CompileSecret(s *tlsv3.Secret) (*Secret, error) {
	if s.GetName() == "" {
		return nil, errors.New("secret without a name")
	}
	out := &Secret{Name: s.GetName()}
	switch t := s.GetType().(type) {
	case *tlsv3.Secret_TlsCertificate:
		chain, err := inlineData(t.TlsCertificate.GetCertificateChain())
		if err != nil {
			return nil, fmt.Errorf("secret %q: certificate_chain: %w", s.GetName(), err)
		}
		key, err := inlineData(t.TlsCertificate.GetPrivateKey())
		if err != nil {
			return nil, fmt.Errorf("secret %q: private_key: %w", s.GetName(), err)
		}
		if _, err := tls.X509KeyPair(chain, key); err != nil {
			return nil, fmt.Errorf("secret %q: certificate and key do not form a valid pair: %w", s.GetName(), err)
		}
		svid, err := x509svid.Parse(chain, key)
		if err != nil {
			return nil, fmt.Errorf("secret %q: not a SPIFFE workload certificate (it needs exactly one spiffe:// URI SAN): %w", s.GetName(), err)
		}
		out.SVID = svid
	case *tlsv3.Secret_ValidationContext:
		ca, err := inlineData(t.ValidationContext.GetTrustedCa())
		if err != nil {
			return nil, fmt.Errorf("secret %q: trusted_ca: %w", s.GetName(), err)
		}
		roots, err := parseCertificates(ca)
		if err != nil {
			return nil, fmt.Errorf("secret %q: trusted_ca: %w", s.GetName(), err)
		}
		out.Roots = roots
	default:
		return nil, fmt.Errorf("secret %q: only tls_certificate and validation_context secrets are supported", s.GetName())
	}
	return out, nil
}

func parseCertificates(data []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("holds no PEM certificate")
	}
	return out, nil
}

func inlineData(d *corev3.DataSource) ([]byte, error) {
	switch s := d.GetSpecifier().(type) {
	case *corev3.DataSource_InlineBytes:
		return s.InlineBytes, nil
	case *corev3.DataSource_InlineString:
		return []byte(s.InlineString), nil
	case nil:
		return nil, errors.New("missing")
	default:
		return nil, errors.New("only inline data is supported: the proxy does not read key material from files named by the control plane")
	}
}
