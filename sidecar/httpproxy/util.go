package httpproxy

import (
	"net"
	"strconv"
)

func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return hostport
}

func itoa(i int) string { return strconv.Itoa(i) }
