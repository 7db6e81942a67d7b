package api

import (
	"fmt"
	"html/template"
	"strings"

	"github.com/agentlinks/agentlinks/service"
)

// A chart over time, drawn on the server as SVG: no script, readable on a
// phone, and as fast as the rollups it reads.

type series struct {
	Name  string
	Color string
	Value func(service.DayStats) float64
}

const (
	chartW, chartH = 560.0, 230.0
	padL, padB     = 72.0, 26.0
)

// chart draws one line per series over the days, with the largest value on
// the y axis and the first and last day on the x axis.
func chart(days []service.DayStats, format func(float64) string, lines ...series) template.HTML {
	if len(days) == 0 {
		return ""
	}
	top := 0.0
	for _, d := range days {
		for _, l := range lines {
			top = max(top, l.Value(d))
		}
	}
	if top == 0 {
		top = 1
	}
	x := func(i int) float64 {
		if len(days) == 1 {
			return padL
		}
		return padL + float64(i)*(chartW-padL-8)/float64(len(days)-1)
	}
	y := func(v float64) float64 { return 8 + (chartH-padB-8)*(1-v/top) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %.0f %.0f" role="img">`, chartW, chartH)
	fmt.Fprintf(&b, `<line x1="%.0f" y1="%.1f" x2="%.0f" y2="%.1f" stroke="#e3e6ec"/>`, padL, y(0), chartW-8, y(0))
	fmt.Fprintf(&b, `<line x1="%.0f" y1="%.1f" x2="%.0f" y2="%.1f" stroke="#eef0f4" stroke-dasharray="3 3"/>`, padL, y(top), chartW-8, y(top))
	fmt.Fprintf(&b, `<text x="%.0f" y="%.1f" text-anchor="end" class="axis">%s</text>`, padL-6, y(top)+4, template.HTMLEscapeString(format(top)))
	fmt.Fprintf(&b, `<text x="%.0f" y="%.1f" text-anchor="end" class="axis">0</text>`, padL-6, y(0)+4)
	fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" class="axis">%s</text>`, padL, chartH-4, days[0].Day)
	fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" text-anchor="end" class="axis">%s</text>`, chartW-8, chartH-4, days[len(days)-1].Day)
	for _, l := range lines {
		var pts []string
		for i, d := range days {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(i), y(l.Value(d))))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" stroke-linejoin="round" points="%s"><title>%s</title></polyline>`,
			l.Color, strings.Join(pts, " "), template.HTMLEscapeString(l.Name))
	}
	b.WriteString(`</svg><div class="legend">`)
	for _, l := range lines {
		fmt.Fprintf(&b, `<span><i style="background:%s"></i>%s</span>`, l.Color, template.HTMLEscapeString(l.Name))
	}
	b.WriteString(`</div>`)
	return template.HTML(b.String()) // built from numbers, dates and escaped names only
}

// activityChart is a program's or a link's clicks, signups and
// conversions per day.
func activityChart(days []service.DayStats) template.HTML {
	return chart(days, func(v float64) string { return fmt.Sprintf("%.0f", v) },
		series{"Clicks", "#4f46e5", func(d service.DayStats) float64 { return float64(d.Clicks) }},
		series{"Signups", "#0ea5e9", func(d service.DayStats) float64 { return float64(d.Signups) }},
		series{"Conversions", "#16a34a", func(d service.DayStats) float64 { return float64(d.Conversions) }})
}

// programCharts are the two charts of a program's page.
func programCharts(st service.ProgramStats) (activity, earnings template.HTML) {
	earnings = chart(st.Days, func(v float64) string { return money(int64(v), st.Currency) },
		series{"Revenue", "#0f172a", func(d service.DayStats) float64 { return float64(d.AmountCents - d.RefundedCents) }},
		series{"Commission", "#f59e0b", func(d service.DayStats) float64 {
			return float64(d.CommissionCents - d.ReversedCommissionCents)
		}})
	return activityChart(st.Days), earnings
}

// creatorEarningsChart is a creator's net earnings per day in a program.
func creatorEarningsChart(days []service.DayStats, currency string) template.HTML {
	return chart(days, func(v float64) string { return money(int64(v), currency) },
		series{"Your earnings (net of refunds)", "#f59e0b", func(d service.DayStats) float64 {
			return float64(d.NetCommissionCents - d.ReversedNetCommissionCents)
		}})
}
