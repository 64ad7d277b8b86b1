package sim

import (
	"context"
	"fmt"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// chromium finds a Chromium (or Chrome) to run headless.
func chromium() (string, error) {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "chrome"} {
		if path, err := exec.LookPath(name); err == nil {
			return path, nil
		}
	}
	return "", fmt.Errorf("no chromium, chromium-browser or google-chrome on PATH (Debian: apt-get install chromium)")
}

// headless runs the browser on url with args and returns what it prints.
func headless(t *testing.T, browser, url string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	all := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
		"--user-data-dir=" + t.TempDir(), "--virtual-time-budget=15000"}, args...)
	cmd := exec.CommandContext(ctx, browser, append(all, url)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", browser, strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

var bodyAttr = regexp.MustCompile(`<body([^>]*)>`)

// attr reads an attribute of the page's body from a DOM dump.
func attr(dom, name string) (string, bool) {
	m := bodyAttr.FindStringSubmatch(dom)
	if m == nil {
		return "", false
	}
	v := regexp.MustCompile(` ` + name + `="([^"]*)"`).FindStringSubmatch(m[1])
	if v == nil {
		return "", false
	}
	return v[1], true
}

// TestTimelineInBrowser opens timelines in headless Chromium: a default
// run of seed 1 (three members) and a 30-second run of five members. The
// page must draw one lane per member without a script error, pass its
// self-test (zoom, pan, clicks, hovering, following an entry), draw the
// whole run in half a second at most (the best of five frames), and show
// a leader in its screenshot. It needs Chromium, so it runs only with
// CAIRN_BROWSER=1 (.ci/run sets it); the screenshots go to
// CAIRN_BROWSER_OUT, or the test's temporary directory.
func TestTimelineInBrowser(t *testing.T) {
	if os.Getenv("CAIRN_BROWSER") == "" {
		t.Skip("set CAIRN_BROWSER=1 to open the timeline in headless Chromium")
	}
	browser, err := chromium()
	if err != nil {
		t.Fatalf("CAIRN_BROWSER is set, but: %v", err)
	}
	out := os.Getenv("CAIRN_BROWSER_OUT")
	if out == "" {
		out = t.TempDir()
	} else if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	five := DefaultConfig(2)
	five.Members, five.Duration = 5, 30_000
	for _, cfg := range []Config{seedConfig(1), five} {
		t.Run(fmt.Sprintf("seed%d", cfg.Seed), func(t *testing.T) {
			cfg.Timeline = true
			w, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			runErr := w.Run()
			if runErr != nil {
				t.Fatalf("the run failed: %.500s", runErr)
			}
			page := filepath.Join(out, fmt.Sprintf("timeline-seed%d-%dmembers.html", cfg.Seed, w.cfg.Members))
			if err := w.WriteTimeline(page, runErr); err != nil {
				t.Fatal(err)
			}
			url := "file://" + page
			dom := headless(t, browser, url+"#selftest", "--dump-dom")
			lanes, ok := attr(dom, "data-lanes")
			if !ok {
				t.Fatalf("the page never finished drawing (no data-lanes on body); body: %.300s", bodyAttr.FindString(dom))
			}
			if lanes != strconv.Itoa(len(w.members)) {
				t.Errorf("the page draws %s lanes, the run had %d members", lanes, len(w.members))
			}
			if n, bad := attr(dom, "data-errors"); bad {
				i := strings.Index(dom, `<pre id="errors">`)
				t.Errorf("%s script errors: %.1000s", n, dom[i:])
			}
			if st, _ := attr(dom, "data-selftest"); st != "ok" {
				t.Errorf("self-test: %q", st)
			}
			ms, _ := attr(dom, "data-full-draw-ms")
			if n, err := strconv.Atoi(ms); err != nil || n > 500 {
				t.Errorf("the whole run takes %q ms to draw: too slow to zoom and pan", ms)
			}
			slowest, _ := attr(dom, "data-draw-ms")
			t.Logf("%d members, %.1f s: %s lanes, the whole run drawn in %s ms (slowest frame %s ms)",
				len(w.members), float64(w.Now())/1000, lanes, ms, slowest)

			shot := strings.TrimSuffix(page, ".html") + ".png"
			headless(t, browser, url, "--window-size=1600,1000", "--screenshot="+shot)
			f, err := os.Open(shot)
			if err != nil {
				t.Fatalf("no screenshot: %v", err)
			}
			defer f.Close()
			img, err := png.Decode(f)
			if err != nil {
				t.Fatalf("screenshot %s: %v", shot, err)
			}
			// The leader's band is drawn in #2f9e50.
			leader := 0
			b := img.Bounds()
			for y := b.Min.Y; y < b.Max.Y; y += 2 {
				for x := b.Min.X; x < b.Max.X; x += 2 {
					r, g, bl, _ := img.At(x, y).RGBA()
					if r>>8 == 0x2f && g>>8 == 0x9e && bl>>8 == 0x50 {
						leader++
					}
				}
			}
			if leader < 100 {
				t.Errorf("screenshot %s shows almost no leader band (%d pixels)", shot, leader)
			}
			t.Logf("screenshot: %s", shot)
		})
	}
}
