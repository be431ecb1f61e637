package load

import (
	"bytes"
	"fmt"
	"html/template"
	"io"
	"strconv"
	"time"

	"github.com/go-analyze/charts"
)

// WriteHTML writes r as one self-contained HTML page: the summary, the
// status and error counts, and three SVG charts drawn here with
// go-analyze/charts (latency by percentile, throughput over time, latency
// over time). The page loads nothing from elsewhere, so it can be mailed
// or attached to a CI run as it is.
func (r *Result) WriteHTML(w io.Writer) error {
	page := htmlPage{R: r, Title: "cairn-bench: " + r.Target}
	var err error
	if page.Percentiles, err = r.percentileChart(); err != nil {
		return err
	}
	if page.Throughput, err = r.throughputChart(); err != nil {
		return err
	}
	if page.LatencyOverTime, err = r.latencyChart(); err != nil {
		return err
	}
	return htmlTemplate.Execute(w, page)
}

type htmlPage struct {
	Title                                    string
	R                                        *Result
	Percentiles, Throughput, LatencyOverTime template.HTML
}

// ms is a duration in milliseconds, the charts' unit.
func ms(m Millis) float64 { return float64(m) / 1e6 }

func (r *Result) percentileChart() (template.HTML, error) {
	if len(r.Percentiles) == 0 {
		return "", nil
	}
	var labels []string
	var values []float64
	for _, p := range r.Percentiles {
		labels = append(labels, strconv.FormatFloat(p.Percentile, 'f', -1, 64))
		values = append(values, ms(p.Latency))
	}
	return svgLine("Latency by percentile", labels, [][]float64{values}, []string{"latency (ms)"}, "percentile", "ms")
}

func (r *Result) throughputChart() (template.HTML, error) {
	if len(r.Series) == 0 {
		return "", nil
	}
	labels, rate, errs := r.seriesLabels(), make([]float64, len(r.Series)), make([]float64, len(r.Series))
	for i, iv := range r.Series {
		rate[i] = iv.Rate
		if iv.Requests > 0 {
			errs[i] = iv.Rate * float64(iv.Errors) / float64(iv.Requests)
		}
	}
	return svgLine("Throughput over time", labels, [][]float64{rate, errs}, []string{"requests/s", "errors/s"}, "seconds", "req/s")
}

func (r *Result) latencyChart() (template.HTML, error) {
	if len(r.Series) == 0 {
		return "", nil
	}
	labels, p50, p99 := r.seriesLabels(), make([]float64, len(r.Series)), make([]float64, len(r.Series))
	for i, iv := range r.Series {
		p50[i], p99[i] = ms(iv.P50), ms(iv.P99)
	}
	return svgLine("Latency over time", labels, [][]float64{p50, p99}, []string{"p50 (ms)", "p99 (ms)"}, "seconds", "ms")
}

func (r *Result) seriesLabels() []string {
	labels := make([]string, len(r.Series))
	for i, iv := range r.Series {
		labels[i] = strconv.FormatFloat(iv.At.D().Seconds(), 'f', -1, 64)
	}
	return labels
}

// svgLine draws one line chart as inline SVG.
func svgLine(title string, labels []string, values [][]float64, names []string, xTitle, yTitle string) (template.HTML, error) {
	opt := charts.NewLineChartOptionWithData(values)
	opt.Title.Text = title
	opt.XAxis.Labels = labels
	opt.XAxis.Title = xTitle
	opt.YAxis = []charts.YAxisOption{{Title: yTitle}}
	opt.Legend.SeriesNames = names
	opt.Legend.Padding = charts.Box{Left: 160}
	opt.Symbol.Shape = charts.SymbolNone
	opt.LineStrokeWidth = 1.5
	p := charts.NewPainter(charts.PainterOptions{OutputFormat: charts.ChartOutputSVG, Width: 800, Height: 360})
	if err := p.LineChart(opt); err != nil {
		return "", fmt.Errorf("drawing %q: %w", title, err)
	}
	b, err := p.Bytes()
	if err != nil {
		return "", fmt.Errorf("drawing %q: %w", title, err)
	}
	// Inline SVG in HTML takes no XML declaration.
	if i := bytes.Index(b, []byte("<svg")); i > 0 {
		b = b[i:]
	}
	return template.HTML(b), nil //nolint:gosec // drawn here from numbers and our own labels
}

var htmlTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"ms":     fmtMs,
	"num":    fmtFloat,
	"bytes":  fmtBytes,
	"counts": fmtCounts,
	"dur":    func(m Millis) string { return m.D().Round(time.Millisecond).String() },
	"stamp":  func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{.Title}}</title>
<style>
body { font-family: sans-serif; margin: 2em; color: #222; max-width: 60em; }
table { border-collapse: collapse; margin: 1em 0; }
td, th { padding: .25em .8em; border-bottom: 1px solid #ddd; text-align: left; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 1.5em 0; }
</style>
</head>
<body>
{{with .R}}
<h1>cairn-bench</h1>
<p id="target">{{.Target}} — {{.Model}} model, {{.Connections}} connections{{if gt .Rate 0.0}}, {{num .Rate}} req/s offered{{end}}{{if not .KeepAlive}}, no keep-alive{{end}}; started {{stamp .Started}}, {{dur .Elapsed}} measured after {{dur .WarmUp}} warm-up.</p>
<table id="summary">
<tr><th>requests</th><td class="n">{{.Requests}}</td></tr>
<tr><th>throughput</th><td class="n">{{num .Throughput}} req/s</td></tr>
<tr><th>response bodies</th><td class="n">{{bytes .BodyBytes}}</td></tr>
<tr><th>errors</th><td class="n">{{.Errors}}</td></tr>
<tr><th>non-2xx/3xx</th><td class="n">{{.Non2xx3xx}}</td></tr>
<tr><th>latency p50 / p90 / p99 / p99.9</th><td class="n">{{ms .Latency.P50}} / {{ms .Latency.P90}} / {{ms .Latency.P99}} / {{ms .Latency.P999}}</td></tr>
<tr><th>latency min / mean / max</th><td class="n">{{ms .Latency.Min}} / {{ms .Latency.Mean}} / {{ms .Latency.Max}}</td></tr>
<tr><th>statuses</th><td>{{counts .Statuses}}</td></tr>
<tr><th>errors by kind</th><td>{{counts .ErrorKinds}}</td></tr>
<tr><th>generator CPU</th><td class="n">{{dur .GeneratorCPU}} ({{printf "%.2f" .GeneratorCores}} cores)</td></tr>
</table>
{{end}}
<figure id="percentiles">{{.Percentiles}}</figure>
<figure id="throughput">{{.Throughput}}</figure>
<figure id="latency">{{.LatencyOverTime}}</figure>
</body>
</html>
`))
