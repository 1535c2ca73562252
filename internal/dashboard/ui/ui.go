package ui

import (
	"embed"
	"io/fs"
)

// FS holds the assets under static/: index.html, the scripts (ES modules),
// the stylesheet and the logo.
//
//go:embed static
var FS embed.FS

// IndexPath is the page's path in FS.
const IndexPath = "static/index.html"

// Assets is the UI laid out as the dashboard serves it: index.html at the
// root (served at "/") and every asset under static/ (served at
// "/static/"). The page names its assets and the API with relative URLs
// ("static/app.js", "api/topology"), so it also works under a path prefix
// as long as the page's own URL ends in "/". It needs no inline script or
// style and no eval: it runs under Content-Security-Policy
// "default-src 'self'".
func Assets() fs.FS { return assets{} }

type assets struct{}

func (assets) Open(name string) (fs.File, error) {
	if name == "index.html" {
		return FS.Open(IndexPath)
	}
	return FS.Open(name)
}
