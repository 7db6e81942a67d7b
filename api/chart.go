package api

import (
	"fmt"
	"html/template"
	"strings"

	"github.com/agentlinks/agentlinks/service"
)

// A chart over time, drawn on the server as SVG: no script, readable on a
// phone, and as fast as the rollups it reads. Counts are bars side by side
// (equal values stay distinguishable), amounts are lines with a marker on
// every day that has one (a single day is a point, not a spike), and each
// day answers its values on hover (an SVG title over the day's column).

type series struct {
	Name  string
	Color string
	Value func(service.DayStats) float64
}

const (
	chartW, chartH = 560.0, 230.0
	padL, padB     = 72.0, 26.0
	padR, padT     = 8.0, 8.0
)

// chartKind is how a chart draws its series.
type chartKind int

const (
	bars  chartKind = iota // counts: one bar per series, side by side in each day
	lines                  // amounts: a line per series, a marker on each day with a value
)

// chart draws the series over the days, with the largest value on the y
// axis and the first and last day on the x axis.
func chart(days []service.DayStats, kind chartKind, format func(float64) string, ss ...series) template.HTML {
	if len(days) == 0 {
		return ""
	}
	top := 0.0
	for _, d := range days {
		for _, s := range ss {
			top = max(top, s.Value(d))
		}
	}
	if top == 0 {
		top = 1
	}
	slot := (chartW - padL - padR) / float64(len(days)) // a day's column
	center := func(i int) float64 { return padL + slot*(float64(i)+0.5) }
	y := func(v float64) float64 { return padT + (chartH-padB-padT)*(1-v/top) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %.0f %.0f" role="img" aria-label="%s">`, chartW, chartH, template.HTMLEscapeString(names(ss)+" per day"))
	fmt.Fprintf(&b, `<line x1="%.0f" y1="%.1f" x2="%.0f" y2="%.1f" stroke="#e3e6ec"/>`, padL, y(0), chartW-padR, y(0))
	fmt.Fprintf(&b, `<line x1="%.0f" y1="%.1f" x2="%.0f" y2="%.1f" stroke="#eef0f4" stroke-dasharray="3 3"/>`, padL, y(top), chartW-padR, y(top))
	fmt.Fprintf(&b, `<text x="%.0f" y="%.1f" text-anchor="end" class="axis">%s</text>`, padL-6, y(top)+4, template.HTMLEscapeString(format(top)))
	fmt.Fprintf(&b, `<text x="%.0f" y="%.1f" text-anchor="end" class="axis">0</text>`, padL-6, y(0)+4)
	fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" class="axis">%s</text>`, padL, chartH-4, days[0].Day)
	fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" text-anchor="end" class="axis">%s</text>`, chartW-padR, chartH-4, days[len(days)-1].Day)
	switch kind {
	case bars:
		gap := min(2, slot*0.2)
		w := (slot - gap) / float64(len(ss))
		for i, d := range days {
			for k, s := range ss {
				if v := s.Value(d); v > 0 {
					fmt.Fprintf(&b, `<rect class="bar" x="%.2f" y="%.1f" width="%.2f" height="%.1f" fill="%s"/>`,
						center(i)-(slot-gap)/2+float64(k)*w, y(v), max(w-0.5, 0.5), y(0)-y(v), s.Color)
				}
			}
		}
	case lines:
		for k, s := range ss {
			var pts []string
			for i, d := range days {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", center(i), y(s.Value(d))))
			}
			// Later series are dashed, so that one lying on another still shows.
			dash := ""
			if k > 0 {
				dash = ` stroke-dasharray="6 4"`
			}
			fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" stroke-linejoin="round"%s points="%s"/>`, s.Color, dash, strings.Join(pts, " "))
			for i, d := range days {
				if v := s.Value(d); v != 0 {
					fmt.Fprintf(&b, `<circle class="point" cx="%.1f" cy="%.1f" r="%.1f" fill="%s" stroke="#fff"/>`, center(i), y(v), 4.0-float64(k), s.Color)
				}
			}
		}
	}
	// Hover: each day's column says the day's values.
	for i, d := range days {
		var vals []string
		for _, s := range ss {
			vals = append(vals, s.Name+" "+format(s.Value(d)))
		}
		fmt.Fprintf(&b, `<rect class="day" x="%.2f" y="%.0f" width="%.2f" height="%.1f" fill="transparent"><title>%s: %s</title></rect>`,
			center(i)-slot/2, padT, slot, y(0)-padT, d.Day, template.HTMLEscapeString(strings.Join(vals, ", ")))
	}
	b.WriteString(`</svg><div class="legend">`)
	for _, s := range ss {
		fmt.Fprintf(&b, `<span><i style="background:%s"></i>%s</span>`, s.Color, template.HTMLEscapeString(s.Name))
	}
	b.WriteString(`</div>`)
	return template.HTML(b.String()) // built from numbers, dates and escaped names only
}

func names(ss []series) string {
	var n []string
	for _, s := range ss {
		n = append(n, s.Name)
	}
	return strings.Join(n, ", ")
}

func count(v float64) string { return fmt.Sprintf("%.0f", v) }

// activityChart is a program's or a link's clicks, signups and
// conversions per day.
func activityChart(days []service.DayStats) template.HTML {
	return chart(days, bars, count,
		series{"Clicks", "#4f46e5", func(d service.DayStats) float64 { return float64(d.Clicks) }},
		series{"Signups", "#0ea5e9", func(d service.DayStats) float64 { return float64(d.Signups) }},
		series{"Conversions", "#16a34a", func(d service.DayStats) float64 { return float64(d.Conversions) }})
}

// programCharts are the two charts of a program's page.
func programCharts(st service.ProgramStats) (activity, earnings template.HTML) {
	earnings = chart(st.Days, lines, func(v float64) string { return money(int64(v), st.Currency) },
		series{"Revenue", "#0f172a", func(d service.DayStats) float64 { return float64(d.AmountCents - d.RefundedCents) }},
		series{"Commission", "#f59e0b", func(d service.DayStats) float64 {
			return float64(d.CommissionCents - d.ReversedCommissionCents)
		}})
	return activityChart(st.Days), earnings
}

// creatorEarningsChart is a creator's net earnings per day in a program.
func creatorEarningsChart(days []service.DayStats, currency string) template.HTML {
	return chart(days, lines, func(v float64) string { return money(int64(v), currency) },
		series{"Your earnings (net of refunds)", "#f59e0b", func(d service.DayStats) float64 {
			return float64(d.NetCommissionCents - d.ReversedNetCommissionCents)
		}})
}
