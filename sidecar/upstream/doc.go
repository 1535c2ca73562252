// Package upstream holds a proxy's view of the services it sends traffic
// to: each cluster's endpoints with their runtime state, load balancing
// (round robin, least request, random) across priorities, outlier
// detection, circuit breakers, and the connection pools that carry requests.
package upstream
