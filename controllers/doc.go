// Package controllers holds the operator's reconcilers. Each one is thin: it
// reads Kubernetes objects, hands them to a pure builder in internal/, applies
// the result, and reports what happened in status conditions.
package controllers
