package sidecar

import (
	"crypto/tls"
	"net"
	"strings"

	spiffetls "github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
	"google.golang.org/grpc/credentials"

	"github.com/plexus-mesh/plexus/internal/xds/nodemeta"
	"github.com/plexus-mesh/plexus/sidecar/tlsconfig"
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
	c.GetClientCertificate = spiffetls.GetClientCertificate(tlsconfig.SVIDSource(p, nodemeta.CertificateSecret))
	return credentials.NewTLS(c)
}
