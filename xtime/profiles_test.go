package xtime

import (
	"errors"
	"testing"
	"time"
)

func TestFormat(t *testing.T) {
	plus2 := time.FixedZone("", 2*3600)
	minus530 := time.FixedZone("", -(5*3600 + 30*60))
	tests := []struct {
		t                   time.Time
		date, dateTime, tod string
	}{
		{time.Date(1969, 7, 21, 2, 56, 15, 0, time.UTC), "1969-07-21", "1969-07-21T02:56:15Z", "02:56:15Z"},
		{time.Date(1969, 7, 20, 21, 56, 15, 0, minus530), "1969-07-20", "1969-07-20T21:56:15-05:30", "21:56:15-05:30"},
		{time.Date(2026, 11, 23, 8, 5, 3, 120_000_000, plus2), "2026-11-23", "2026-11-23T08:05:03.12+02:00", "08:05:03.12+02:00"},
		{time.Date(2000, 2, 29, 23, 59, 59, 1, time.UTC), "2000-02-29", "2000-02-29T23:59:59.000000001Z", "23:59:59.000000001Z"},
	}
	for _, tt := range tests {
		if got := FormatDate(tt.t); got != tt.date {
			t.Errorf("FormatDate(%v) = %q, want %q", tt.t, got, tt.date)
		}
		if got := FormatDateTime(tt.t); got != tt.dateTime {
			t.Errorf("FormatDateTime(%v) = %q, want %q", tt.t, got, tt.dateTime)
		}
		if got := FormatTime(tt.t); got != tt.tod {
			t.Errorf("FormatTime(%v) = %q, want %q", tt.t, got, tt.tod)
		}
		back, err := ParseDateTime(tt.dateTime)
		if err != nil || !back.Equal(tt.t) {
			t.Errorf("ParseDateTime(%q) = %v, %v; want %v", tt.dateTime, back, err, tt.t)
		}
	}
}

func TestParseDateTime(t *testing.T) {
	ok := []struct {
		in   string
		want time.Time
		off  int
	}{
		{"1969-07-21T02:56:15Z", time.Date(1969, 7, 21, 2, 56, 15, 0, time.UTC), 0},
		{"1969-07-20T21:56:15-05:00", time.Date(1969, 7, 21, 2, 56, 15, 0, time.UTC), -5 * 3600},
		{"2014-08-28T21:50:12.123+00:00", time.Date(2014, 8, 28, 21, 50, 12, 123e6, time.UTC), 0},
		{"2014-08-28T21:50:12.1234567891234Z", time.Date(2014, 8, 28, 21, 50, 12, 123456789, time.UTC), 0},
		{"2024-02-29T00:00:00+14:00", time.Date(2024, 2, 28, 10, 0, 0, 0, time.UTC), 14 * 3600},
	}
	for _, tt := range ok {
		got, err := ParseDateTime(tt.in)
		if err != nil {
			t.Errorf("ParseDateTime(%q): %v", tt.in, err)
			continue
		}
		if !got.Equal(tt.want) {
			t.Errorf("ParseDateTime(%q) = %v, want %v", tt.in, got, tt.want)
		}
		if _, off := got.Zone(); off != tt.off {
			t.Errorf("ParseDateTime(%q) offset %d, want %d", tt.in, off, tt.off)
		}
	}
	bad := []string{
		"", "1969-07-21", "1969-07-21T02:56:15", "1969-07-21 02:56:15Z", "69-07-21T02:56:15Z",
		"1969-13-21T02:56:15Z", "1969-00-21T02:56:15Z", "1969-02-29T02:56:15Z", "1969-04-31T00:00:00Z",
		"1969-07-21T24:00:00Z", "1969-07-21T02:60:15Z", "1969-07-21T02:56:60Z", "1969-07-21T02:56:15.Z",
		"1969-07-21T02:56:15+5:00", "1969-07-21T02:56:15+0500", "1969-07-21T02:56:15+15:00",
		"1969-07-21T02:56:15Zjunk", "1969-07-21T02:56:15z", "1969-07-21T2:56:15Z", "１９６９-07-21T02:56:15Z",
	}
	for _, in := range bad {
		_, err := ParseDateTime(in)
		var pe *ParseError
		if !errors.As(err, &pe) {
			t.Errorf("ParseDateTime(%q) error = %v, want *ParseError", in, err)
		}
	}
}

func TestParseDate(t *testing.T) {
	got, err := ParseDate("1776-07-04")
	if err != nil || !got.Equal(time.Date(1776, 7, 4, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("ParseDate = %v, %v", got, err)
	}
	for _, in := range []string{"1776-07-4", "1776-07-04Z", "1900-02-29", "17760704", "1776/07/04"} {
		if _, err := ParseDate(in); err == nil {
			t.Errorf("ParseDate(%q) succeeded", in)
		}
	}
	if _, err := ParseDate("2000-02-29"); err != nil {
		t.Errorf("leap day 2000: %v", err)
	}
}

func TestParseTime(t *testing.T) {
	tests := []struct {
		in      string
		h, m, s int
		ns      int
		zone    bool
		off     int
	}{
		{"16:00:00", 16, 0, 0, 0, false, 0},
		{"16:00:00Z", 16, 0, 0, 0, true, 0},
		{"16:00:00.5-08:00", 16, 0, 0, 5e8, true, -8 * 3600},
	}
	for _, tt := range tests {
		got, zone, err := ParseTime(tt.in)
		if err != nil {
			t.Errorf("ParseTime(%q): %v", tt.in, err)
			continue
		}
		h, m, s := got.Clock()
		_, off := got.Zone()
		if h != tt.h || m != tt.m || s != tt.s || got.Nanosecond() != tt.ns || zone != tt.zone || off != tt.off {
			t.Errorf("ParseTime(%q) = %v zone=%v", tt.in, got, zone)
		}
	}
	for _, in := range []string{"16:00", "16:00:00+", "16:00:00 Z", "T16:00:00Z"} {
		if _, _, err := ParseTime(in); err == nil {
			t.Errorf("ParseTime(%q) succeeded", in)
		}
	}
}

func TestTZO(t *testing.T) {
	for in, want := range map[string]int{"Z": 0, "+00:00": 0, "-06:00": -6 * 3600, "+05:45": 5*3600 + 45*60} {
		got, err := ParseTZO(in)
		if err != nil || got != want {
			t.Errorf("ParseTZO(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "+1:00", "UTC", "+01:00:00", "-14:30"} {
		if _, err := ParseTZO(in); err == nil {
			t.Errorf("ParseTZO(%q) succeeded", in)
		}
	}
	if got := FormatTZO(time.Date(2020, 1, 1, 0, 0, 0, 0, time.FixedZone("", -(3*3600+30*60)))); got != "-03:30" {
		t.Errorf("FormatTZO = %q", got)
	}
}

func FuzzParseDateTime(f *testing.F) {
	for _, s := range []string{"1969-07-21T02:56:15Z", "2014-08-28T21:50:12.123+00:00", "0000-01-01T00:00:00-14:00", "9999-12-31T23:59:59.999999999+14:00", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tm, err := ParseDateTime(s)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %T is not *ParseError", err)
			}
			return
		}
		// Whatever parses must format to something that parses to the same instant.
		out := FormatDateTime(tm)
		back, err := ParseDateTime(out)
		if err != nil || !back.Equal(tm) {
			t.Fatalf("round trip %q -> %q -> %v, %v", s, out, back, err)
		}
		if _, _, err := ParseTime(out[11:]); err != nil {
			t.Fatalf("time part %q of %q: %v", out[11:], out, err)
		}
		if _, err := ParseDate(out[:10]); err != nil {
			t.Fatalf("date part %q: %v", out[:10], err)
		}
	})
}
