package main

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"os"
	"strings"
)

// listenGRPC listens on addr: host:port, or unix:///path for a Unix
// socket (proxies on the same machine, for example in network namespaces
// of their own). A stale socket file from an earlier run is replaced.
func listenGRPC(ctx context.Context, addr string) (net.Listener, error) {
	path, ok := strings.CutPrefix(addr, "unix://")
	if !ok {
		return (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	return (&net.ListenConfig{}).Listen(ctx, "unix", path)
}
