// Package gateway is the east-west gateway: it accepts mTLS connections from
// peer clusters and routes them by SNI to local endpoints of exported
// services, passing the TLS session through untouched.
package gateway
