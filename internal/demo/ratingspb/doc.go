// Package ratingspb is the gRPC API of the demo's ratings service.
package ratingspb
