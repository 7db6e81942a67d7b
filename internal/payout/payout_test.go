package payout

import (
	"strings"
	"testing"
	"time"
)

func TestAllocateSpreadsOverConversionsOldestFirst(t *testing.T) {
	for _, tc := range []struct {
		name  string
		convs []Available
		total int64
		want  []Allocation
		err   string
	}{
		{name: "one conversion whole", total: 2850,
			convs: []Available{{ConversionID: "a", NetCents: 2850, FeeCents: 150, AvailableCents: 2850}},
			want:  []Allocation{{"a", 2850, 150}}},
		{name: "two conversions, oldest first", total: 4275,
			convs: []Available{{ConversionID: "a", NetCents: 2850, FeeCents: 150, AvailableCents: 2850},
				{ConversionID: "b", NetCents: 1425, FeeCents: 75, AvailableCents: 1425}},
			want: []Allocation{{"a", 2850, 150}, {"b", 1425, 75}}},
		// A clawed-back conversion (negative) nets against the others: the
		// total is what is left, taken from the oldest positive ones.
		{name: "a clawback debt nets", total: 1425,
			convs: []Available{{ConversionID: "a", NetCents: 2850, FeeCents: 150, AvailableCents: -2850},
				{ConversionID: "b", NetCents: 2850, FeeCents: 150, AvailableCents: 2850},
				{ConversionID: "c", NetCents: 1425, FeeCents: 75, AvailableCents: 1425}},
			want: []Allocation{{"b", 1425, 75}}},
		// A part carried before: the fee of the rest is the cumulative share,
		// so the parts' fees add up to the conversion's fee exactly.
		{name: "the rest of a conversion", total: 1851,
			convs: []Available{{ConversionID: "a", NetCents: 2851, FeeCents: 150, AvailableCents: 1851, CarriedCents: 1000}},
			want:  []Allocation{{"a", 1851, 150 - 53}}},
		{name: "more than the conversions hold", total: 5000, err: "hold 2150 cents less",
			convs: []Available{{ConversionID: "a", NetCents: 2850, FeeCents: 150, AvailableCents: 2850}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Allocate(tc.convs, tc.total)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("want error %q, got %v %v", tc.err, got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("got %+v, want %+v", got, tc.want)
				}
			}
		})
	}
}

func TestSkipSaysWhy(t *testing.T) {
	for _, tc := range []struct {
		c    Candidate
		mode string
		want string
	}{
		{Candidate{AvailableCents: 6000, HasAccount: true}, ModeStripe, ""},
		{Candidate{AvailableCents: 6000}, ModeManual, ""},
		{Candidate{AvailableCents: 6000}, ModeStripe, "no payout account"},
		{Candidate{AvailableCents: 4999, HasAccount: true}, ModeStripe, "available 49.99 is below the program's minimum payout of 50.00"},
		{Candidate{AvailableCents: -1234, HasAccount: true}, ModeStripe, "a clawback of 12.34 is owed back first"},
		{Candidate{HasAccount: true}, ModeStripe, "nothing is available"},
	} {
		got := Skip(tc.c, 5000, tc.mode)
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("Skip(%+v, %s) = %q, want %q", tc.c, tc.mode, got, tc.want)
		}
	}
}

func TestParseSchedule(t *testing.T) {
	for in, want := range map[string]Schedule{"": {}, "off": {}, "monthly:1": {MonthDay: 1}, "monthly:28": {MonthDay: 28},
		"every:14": {EveryDays: 14}, "every:365": {EveryDays: 365}} {
		got, err := ParseSchedule(in)
		if err != nil || got != want {
			t.Errorf("ParseSchedule(%q) = %+v %v, want %+v", in, got, err, want)
		}
		if in != "off" && got.String() != in {
			t.Errorf("%+v.String() = %q, want %q", got, got.String(), in)
		}
	}
	for _, bad := range []string{"monthly:0", "monthly:29", "every:0", "every:366", "weekly:1", "monthly", "every:x"} {
		if _, err := ParseSchedule(bad); err == nil {
			t.Errorf("ParseSchedule(%q) took it", bad)
		}
	}
}

func TestScheduleNext(t *testing.T) {
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tc := range []struct {
		s    Schedule
		now  string
		want string
	}{
		{Schedule{MonthDay: 1}, "2026-12-02T03:00:00Z", "2027-01-01T09:00:00Z"},
		{Schedule{MonthDay: 15}, "2026-12-02T03:00:00Z", "2026-12-15T09:00:00Z"},
		{Schedule{MonthDay: 2}, "2026-12-02T08:59:59Z", "2026-12-02T09:00:00Z"},
		{Schedule{MonthDay: 2}, "2026-12-02T09:00:00Z", "2027-01-02T09:00:00Z"},
		{Schedule{EveryDays: 1}, "2026-12-02T03:00:00Z", "2026-12-03T00:00:00Z"},
		{Schedule{EveryDays: 14}, "1970-01-14T23:59:59Z", "1970-01-15T00:00:00Z"},
		{Schedule{EveryDays: 14}, "1970-01-15T00:00:00Z", "1970-01-29T00:00:00Z"},
	} {
		if got := tc.s.Next(at(tc.now)); !got.Equal(at(tc.want)) {
			t.Errorf("%+v.Next(%s) = %s, want %s", tc.s, tc.now, got, tc.want)
		}
	}
	if !(Schedule{}).Next(time.Now()).IsZero() {
		t.Error("no schedule has a next run")
	}
}
