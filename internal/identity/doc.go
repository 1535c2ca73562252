// Package identity owns workload identity: the certificate authority, SPIFFE
// SVID issuance and rotation, and trust bundles.
package identity
