// Package xds translates the mesh model into xDS resources per proxy (pure,
// golden-tested) and serves them over ADS.
package xds
