// Package kube connects the identity package to Kubernetes: the CA kept in
// a Secret, and ServiceAccount tokens checked with TokenReview.
package kube
