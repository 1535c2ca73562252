package model

import "strings"

// ProtocolFor infers a service port's protocol the way users declare it in
// Kubernetes: the port's appProtocol first ("http", "grpc",
// "kubernetes.io/h2c", "kubernetes.io/ws", "tcp", ...), then the port name
// ("http", "http-web", "grpc-api", "tcp-db"). Anything else is sniffed by
// the proxy.
func ProtocolFor(appProtocol, portName string) Protocol {
	switch strings.ToLower(appProtocol) {
	case "http", "kubernetes.io/ws", "kubernetes.io/wss":
		return ProtocolHTTP
	case "http2", "h2c", "kubernetes.io/h2c":
		return ProtocolHTTP2
	case "grpc", "grpc-web":
		return ProtocolGRPC
	case "tcp", "https", "tls", "mysql", "postgresql", "redis", "mongo", "kafka":
		// TLS the application originates itself is opaque to the proxy.
		return ProtocolTCP
	}
	name := strings.ToLower(portName)
	prefix, _, _ := strings.Cut(name, "-")
	switch prefix {
	case "http":
		return ProtocolHTTP
	case "http2", "h2c":
		return ProtocolHTTP2
	case "grpc":
		return ProtocolGRPC
	case "tcp", "https", "tls":
		return ProtocolTCP
	}
	return ProtocolUnknown
}
