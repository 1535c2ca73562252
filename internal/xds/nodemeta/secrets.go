package nodemeta

// SDS names of a proxy's own certificate and its trust domain's roots.
// The control plane's listeners and clusters refer to them; the proxy
// fills them with the certificate it obtains from the CA.
const (
	CertificateSecret = "default"
	RootSecret        = "ROOTCA"
)
