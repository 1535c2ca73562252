// Package browser drives Debian's Chromium with chromedp for the tests of
// Plexus's web UIs: it finds the browser (or installs it through
// hack/chromium.sh), starts it headless in a fixed 1280x800 window,
// collects what the page reports as errors on its console, and saves
// screenshots as test artifacts. Tests that find no Chromium skip.
package browser
