package load

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cairnstack/cairn/internal/proctest"
)

// TestHTMLReportInChromium renders a real run's report in headless
// Chromium (Debian's package, installed by scripts/deps.sh): the page must
// load without fetching anything, its DOM must hold the three charts with
// one plotted vertex per data point, and the screenshot must show the
// coloured lines.
func TestHTMLReportInChromium(t *testing.T) {
	browser := proctest.Chromium(t)
	tg := startTarget(t, nil)
	o := quick()
	o.Duration = 3 * time.Second
	res, err := HTTP(context.Background(), one(tg.url("/")), o, nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	page := filepath.Join(dir, "report.html")
	if err := writeFile(page, res.WriteHTML); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(page)
	if regexp.MustCompile(`(src|href)=|url\(|@import`).Match(raw) {
		t.Error("the report refers to outside resources")
	}

	dom := browser.DOM("file://" + page)
	want := map[string]int{"percentiles": len(res.Percentiles), "throughput": len(res.Series), "latency": len(res.Series)}
	for id, points := range want {
		fig := regexp.MustCompile(`(?s)<figure id="` + id + `">(.*?)</figure>`).FindSubmatch(dom)
		if fig == nil || !bytes.Contains(fig[1], []byte("<svg")) {
			t.Errorf("chart %s missing from the rendered DOM", id)
			continue
		}
		if !hasLine(string(fig[1]), points) {
			t.Errorf("chart %s has no line through its %d data points", id, points)
		}
	}

	img := browser.Screenshot("file://"+page, 1000, 1600)
	coloured := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if bl > r+0x3000 || g > r+0x3000 { // the series' blue and green, not grey text
				coloured++
			}
		}
	}
	if coloured < 2000 {
		t.Errorf("the screenshot shows %d coloured pixels: the charts did not render", coloured)
	}
}

// hasLine reports whether svg holds an unfilled path with exactly points
// vertices (a series line: one "M" and points-1 "L").
func hasLine(svg string, points int) bool {
	for _, m := range regexp.MustCompile(`(?s)<path d="([^"]*)" style="([^"]*)"`).FindAllStringSubmatch(svg, -1) {
		if !strings.Contains(m[2], "fill:none") {
			continue
		}
		if strings.Count(m[1], "M") == 1 && strings.Count(m[1], "L") == points-1 {
			return true
		}
	}
	return false
}
