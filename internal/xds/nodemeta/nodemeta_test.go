package nodemeta

import (
	"reflect"
	"strings"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	in := &Metadata{
		Workload: "reviews-v1", Namespace: "shop", ServiceAccount: "reviews", Cluster: "east", IP: "127.0.0.5",
		Ports:  []Port{{Port: 8080, Protocol: "http"}, {Port: 9090, Protocol: "grpc"}, {Port: 5432}},
		Labels: map[string]string{"app": "reviews", "version": "v1"},
	}
	out, err := FromStruct(in.Struct())
	if err != nil {
		t.Fatal(err)
	}
	want := *in
	want.Ports = []Port{{Port: 5432}, {Port: 8080, Protocol: "http"}, {Port: 9090, Protocol: "grpc"}}
	if !reflect.DeepEqual(*out, want) {
		t.Fatalf("got %+v, want %+v", out, want)
	}
}

func TestParsePortsErrors(t *testing.T) {
	for in, want := range map[string]string{
		"80x":       `app port "80x"`,
		"0":         "PORT in 1-65535",
		"70000":     "PORT in 1-65535",
		"8080/smtp": `protocol "smtp" is not one of`,
	} {
		if _, err := ParsePorts(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParsePorts(%q) = %v, want %q", in, err, want)
		}
	}
}

func TestValidate(t *testing.T) {
	err := (&Metadata{Workload: "w"}).Validate()
	if err == nil || !strings.Contains(err.Error(), "namespace is not set") || !strings.Contains(err.Error(), "service account is not set") {
		t.Fatalf("Validate() = %v", err)
	}
}

// FuzzParsePorts checks ParsePorts never panics and round-trips what it
// accepts.
func FuzzParsePorts(f *testing.F) {
	for _, s := range []string{"8080/http,9090/grpc", "5432", "", "1/tcp, 65535/http2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ports, err := ParsePorts(s)
		if err != nil {
			return
		}
		again, err := ParsePorts(FormatPorts(ports))
		if err != nil || !reflect.DeepEqual(again, ports) {
			t.Fatalf("round trip of %q: %v -> %v (%v)", s, ports, again, err)
		}
	})
}
