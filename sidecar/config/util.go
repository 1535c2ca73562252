package config

import (
	"fmt"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// durationOr converts an optional proto duration, refusing negative values.
func durationOr(d *durationpb.Duration, def time.Duration, field string) (time.Duration, error) {
	if d == nil {
		return def, nil
	}
	if err := d.CheckValid(); err != nil {
		return 0, fmt.Errorf("%s: %w", field, err)
	}
	v := d.AsDuration()
	if v < 0 {
		return 0, fmt.Errorf("%s: negative duration %s", field, v)
	}
	return v, nil
}

func u32Or(v *wrapperspb.UInt32Value, def int) int {
	if v == nil {
		return def
	}
	return int(v.GetValue())
}

func boolOr(v *wrapperspb.BoolValue, def bool) bool {
	if v == nil {
		return def
	}
	return v.GetValue()
}
