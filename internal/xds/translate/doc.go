// Package translate turns the mesh model into the xDS resources of one
// proxy: clusters and endpoints for the services it may reach, the
// listeners that catch its traffic (transparent outbound and inbound), and
// the routes for each HTTP port. It is pure and deterministic: the same
// model always gives the same resources, which golden tests pin down.
package translate
