package httpproxy

import (
	"net/http"

	"github.com/plexus-mesh/plexus/sidecar/config"
)

// applyHeaders applies mutations in order; later ones win.
func applyHeaders(h http.Header, mutations ...*config.HeaderMutation) {
	for _, m := range mutations {
		for _, name := range m.Remove {
			h.Del(name)
		}
		for _, v := range m.Add {
			switch v.Action {
			case config.HeaderOverwrite:
				h.Set(v.Name, v.Value)
			case config.HeaderAddIfAbsent:
				if len(h.Values(v.Name)) == 0 { // present but empty is present
					h.Set(v.Name, v.Value)
				}
			default:
				h.Add(v.Name, v.Value)
			}
		}
	}
}
