// Package ui holds the mesh dashboard's web UI: plain HTML, CSS and
// JavaScript embedded in the binary, which draws the topology and the
// service pages from the dashboard's JSON API.
package ui
