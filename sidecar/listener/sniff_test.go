package listener

import "testing"

func TestClassify(t *testing.T) {
	tests := map[string]struct {
		in             string
		transport, app string
		more           bool
	}{
		"empty":          {"", "", "", true},
		"tls hello":      {"\x16\x03\x01\x02\x00", TransportTLS, "", false},
		"tls first byte": {"\x16", "", "", true},
		"not tls":        {"\x16\x01", TransportPlain, "", false},
		"http/1 GET":     {"GET / HTTP/1.1\r\n", TransportPlain, ProtoHTTP1, false},
		"http/1 partial": {"PO", TransportPlain, "", true},
		"http/1 PATCH":   {"PATCH /x HTTP/1.1", TransportPlain, ProtoHTTP1, false},
		"h2 preface":     {string(http2Preface), TransportPlain, ProtoH2C, false},
		"h2 partial":     {"PRI * HTTP/2", TransportPlain, "", true},
		"postgres":       {"\x00\x00\x00\x08\x04\xd2\x16\x2f", TransportPlain, "", false},
		"lowercase get":  {"get / HTTP/1.1", TransportPlain, "", false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			tr, app, more := Classify([]byte(tc.in))
			if tr != tc.transport || app != tc.app || more != tc.more {
				t.Fatalf("Classify(%q) = %q, %q, %v; want %q, %q, %v", tc.in, tr, app, more, tc.transport, tc.app, tc.more)
			}
		})
	}
}

// FuzzClassify checks Classify never panics and is consistent: once it has
// decided, more bytes do not change the decision.
func FuzzClassify(f *testing.F) {
	for _, s := range []string{"GET / HTTP/1.1\r\n", string(http2Preface), "\x16\x03\x01", "PRI", "\x00\x01"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		tr, app, more := Classify(b)
		if more {
			return
		}
		tr2, app2, more2 := Classify(append(append([]byte(nil), b...), 'x', 'y'))
		if tr2 != tr || app2 != app || more2 {
			t.Fatalf("decision for %q changed with more bytes: %q/%q -> %q/%q", b, tr, app, tr2, app2)
		}
	})
}
