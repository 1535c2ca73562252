package demo

// upstream is a service a workload calls at its sidecar's local port
// Base+off.
type upstream struct {
	service string // NAMESPACE/SERVICE:PORT
	off     int
}

// workload is one instance of the sample application, at address .n of
// its cluster's network (its application at .n+100).
type workload struct {
	name, sa  string
	net, n    int
	labels    map[string]string
	app       string // reviews, ratings, frontend; "" for loadgen
	port      int    // the application port's offset
	proto     string
	upstreams []upstream
}

// workloads are the sample application: in east, the traffic generator
// calls frontend, which calls reviews (v1, and the v2 canary) and
// ratings; in west, two ratings instances.
var workloads = []workload{
	{name: "loadgen", sa: "loadgen", net: eastNet, n: 10, labels: map[string]string{"app": "loadgen"},
		upstreams: []upstream{{"shop/frontend:80", offUpstream}}},
	{name: "frontend", sa: "frontend", net: eastNet, n: 11, labels: map[string]string{"app": "frontend"}, app: "frontend", port: offHTTP, proto: "http",
		upstreams: []upstream{{"shop/reviews:9080", offUpstream + 1}, {"shop/ratings:9090", offUpstream + 2}}},
	{name: "reviews-v1", sa: "reviews", net: eastNet, n: 12, labels: map[string]string{"app": "reviews", "version": "v1"}, app: "reviews", port: offHTTP, proto: "http"},
	{name: "reviews-v2", sa: "reviews", net: eastNet, n: 13, labels: map[string]string{"app": "reviews", "version": "v2"}, app: "reviews", port: offHTTP, proto: "http"},
	{name: "ratings-1", sa: "ratings", net: westNet, n: 11, labels: map[string]string{"app": "ratings"}, app: "ratings", port: offGRPC, proto: "grpc"},
	{name: "ratings-2", sa: "ratings", net: westNet, n: 12, labels: map[string]string{"app": "ratings"}, app: "ratings", port: offGRPC, proto: "grpc"},
}

// workloadNamed finds a workload of the sample application.
func workloadNamed(name string) (workload, bool) {
	for _, w := range workloads {
		if w.name == name {
			return w, true
		}
	}
	return workload{}, false
}
