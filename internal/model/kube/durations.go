package kube

import (
	"fmt"
	"time"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// durations parses an object's durations, collecting errors that name the
// object and the field. The API server's schema already refuses malformed
// durations; objects read from files (local mode) are checked here.
type durations struct {
	object string // prefix of error messages, such as "TrafficPolicy shop/reviews: "
	errs   []error
}

func (d *durations) parse(field string, v gwapiv1.Duration) time.Duration {
	parsed, err := time.ParseDuration(string(v))
	if err != nil {
		d.errs = append(d.errs, fmt.Errorf("%s%s: %w", d.object, field, err))
	}
	return parsed
}
