package config

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
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
		out.CertificateChain, out.PrivateKey = chain, key
	case *tlsv3.Secret_ValidationContext:
		ca, err := inlineData(t.ValidationContext.GetTrustedCa())
		if err != nil {
			return nil, fmt.Errorf("secret %q: trusted_ca: %w", s.GetName(), err)
		}
		if !x509.NewCertPool().AppendCertsFromPEM(ca) {
			return nil, fmt.Errorf("secret %q: trusted_ca holds no PEM certificate", s.GetName())
		}
		out.TrustedCA = ca
	default:
		return nil, fmt.Errorf("secret %q: only tls_certificate and validation_context secrets are supported", s.GetName())
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
