package api

import (
	"regexp"
	"strings"
	"testing"

	"github.com/agentlinks/agentlinks/service"
)

// Equal counts on one day are three bars side by side in three colours, a
// day with nothing draws nothing, and each day says its values on hover.
func TestActivityChartShowsEverySeries(t *testing.T) {
	days := []service.DayStats{{Day: "2026-12-05"}, {Day: "2026-12-06", Clicks: 1, Signups: 1, Conversions: 1}}
	svg := string(activityChart(days))
	bars := regexp.MustCompile(`<rect class="bar" x="([0-9.]+)" y="([0-9.]+)" width="[0-9.]+" height="[0-9.]+" fill="(#[0-9a-f]+)"`).FindAllStringSubmatch(svg, -1)
	if len(bars) != 3 {
		t.Fatalf("want 3 bars (one per series, on the one day with values), got %d:\n%s", len(bars), svg)
	}
	xs, fills := map[string]bool{}, map[string]bool{}
	for _, b := range bars {
		xs[b[1]], fills[b[3]] = true, true
		if b[2] != bars[0][2] {
			t.Errorf("equal values drawn at different heights: %v", bars)
		}
	}
	if len(xs) != 3 || len(fills) != 3 {
		t.Errorf("equal series overlap: x %v, colours %v", xs, fills)
	}
	for _, want := range []string{"<title>2026-12-06: Clicks 1, Signups 1, Conversions 1</title>", "<title>2026-12-05: Clicks 0, Signups 0, Conversions 0</title>"} {
		if !strings.Contains(svg, want) {
			t.Errorf("no hover value %q", want)
		}
	}
}

// An amount on a single day is a marked point; a second series lying on
// the first is dashed, so both show.
func TestEarningsChartMarksSparseDays(t *testing.T) {
	days := make([]service.DayStats, 30)
	for i := range days {
		days[i].Day = "day"
	}
	days[29] = service.DayStats{Day: "2026-12-06", AmountCents: 2500, CommissionCents: 2500}
	_, svg := programCharts(service.ProgramStats{Currency: "usd", Days: days})
	s := string(svg)
	if n := strings.Count(s, `<circle class="point"`); n != 2 {
		t.Errorf("want a marker per series on the one day with money, got %d", n)
	}
	if !strings.Contains(s, `stroke-dasharray="6 4"`) {
		t.Error("the second series is not dashed")
	}
	if !strings.Contains(s, "<title>2026-12-06: Revenue $25.00, Commission $25.00</title>") {
		t.Errorf("no hover value for the day:\n%s", s)
	}
}
