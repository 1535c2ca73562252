package sidecar

import (
	"crypto/tls"
	"errors"
	"net"
	"strings"

	"google.golang.org/grpc/credentials"

	"github.com/plexus-mesh/plexus/internal/xds/nodemeta"
)

// A proxy with a certificate from the mesh CA talks to the control plane
// over mutual TLS: it presents its workload certificate, which the
// control plane checks against the identity the node metadata claims,
// and it verifies the control plane's certificate with the CA roots, for
// the host it dials.

// dialHost is the name a control plane address (a gRPC target) must be
// certified for: the host of host:port, also after a scheme such as
// dns:///; "localhost" for a unix socket.
func dialHost(addr string) string {
	if strings.HasPrefix(addr, "unix:") {
		return "localhost"
	}
	if _, rest, ok := strings.Cut(addr, "://"); ok {
		// scheme://[authority]/endpoint: the endpoint is what is dialed.
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			addr = rest[i+1:]
		}
	}
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}

// xdsCredentials are the transport credentials of the xDS connection.
func xdsCredentials(addr string, roots *caRoots, p *Proxy) credentials.TransportCredentials {
	c := roots.tlsConfig("the control plane (xDS)", dialHost(addr))
	c.MinVersion = tls.VersionTLS13
	c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		s := p.Secret(nodemeta.CertificateSecret)
		if s == nil || s.SVID == nil || len(s.SVID.Certificates) == 0 {
			return nil, errors.New("the proxy has no workload certificate yet")
		}
		cert := &tls.Certificate{PrivateKey: s.SVID.PrivateKey, Leaf: s.SVID.Certificates[0]}
		for _, c := range s.SVID.Certificates {
			cert.Certificate = append(cert.Certificate, c.Raw)
		}
		return cert, nil
	}
	return credentials.NewTLS(c)
}
