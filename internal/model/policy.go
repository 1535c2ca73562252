package model

import "time"

// PolicyTarget is a service (or one named port of it) a policy applies to.
type PolicyTarget struct {
	Service NamespacedName `json:"service"`
	// Imported targets a multi-cluster ServiceImport instead of a Service.
	Imported bool `json:"imported,omitempty"`
	// SectionName is a port name; empty for every port.
	SectionName string `json:"sectionName,omitempty"`
}

// TrafficPolicy overrides the mesh's traffic defaults for its targets.
// Unset fields leave the defaults alone.
type TrafficPolicy struct {
	Key              NamespacedName    `json:"key"`
	Targets          []PolicyTarget    `json:"targets"`
	LoadBalancer     LoadBalancer      `json:"loadBalancer,omitempty"`
	ConnectTimeout   time.Duration     `json:"connectTimeout,omitempty"`
	RequestTimeout   time.Duration     `json:"requestTimeout,omitempty"`
	IdleTimeout      time.Duration     `json:"idleTimeout,omitempty"`
	Retries          *Retries          `json:"retries,omitempty"`
	CircuitBreaker   *CircuitBreaker   `json:"circuitBreaker,omitempty"`
	OutlierDetection *OutlierDetection `json:"outlierDetection,omitempty"`
	// Created orders policies for conflicts: the oldest wins.
	Created time.Time `json:"created"`
}

// AuthorizationAction is what a matching rule does.
type AuthorizationAction string

// Actions.
const (
	Allow AuthorizationAction = "ALLOW"
	Deny  AuthorizationAction = "DENY"
)

// AuthorizationPolicy allows or denies callers of the workloads it selects.
type AuthorizationPolicy struct {
	Key NamespacedName `json:"key"`
	// Targets select workloads behind services; Selector selects them by
	// label; neither means every workload in the namespace.
	Targets []NamespacedName `json:"targets,omitempty"`
	// Selector is a Kubernetes label selector in its string form, such
	// as "app=reviews,tier in (web)".
	Selector string              `json:"selector,omitempty"`
	Action   AuthorizationAction `json:"action"`
	Rules    []AuthorizationRule `json:"rules"`
}

// AuthorizationRule matches callers (From) and requests (To); empty lists
// match anything.
type AuthorizationRule struct {
	From []AuthorizationSource      `json:"from,omitempty"`
	To   []AuthorizationDestination `json:"to,omitempty"`
}

// AuthorizationSource matches a caller's SPIFFE ID; fields are AND-ed.
type AuthorizationSource struct {
	SPIFFEIDs    []string `json:"spiffeIDs,omitempty"`
	TrustDomains []string `json:"trustDomains,omitempty"`
	Namespaces   []string `json:"namespaces,omitempty"`
}

// AuthorizationDestination matches a request; fields are AND-ed.
type AuthorizationDestination struct {
	Ports   []uint32 `json:"ports,omitempty"`
	Methods []string `json:"methods,omitempty"`
	Paths   []string `json:"paths,omitempty"`
}
