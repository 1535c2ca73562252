// Package webhookcert owns the TLS material of the operator's admission
// webhook: a private CA and a serving certificate, kept in one Secret that
// every replica serves from, renewed well before either expires.
package webhookcert
