// Package capb holds the certificate service's protocol, generated from
// ca.proto by hack/protoc.sh ("make generate").
package capb
