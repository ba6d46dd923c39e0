package xtime

import (
	"strconv"
	"time"
)

// ParseError reports input that does not match a XEP-0082 profile.
type ParseError struct {
	Profile string // "Date", "DateTime", "Time" or "TZD"
	Input   string
	Msg     string
}

func (e *ParseError) Error() string {
	return "xtime: invalid XEP-0082 " + e.Profile + " " + strconv.Quote(e.Input) + ": " + e.Msg
}

// FormatDate formats the calendar date of t (in t's location) with the
// XEP-0082 §3.1 Date profile, CCYY-MM-DD.
func FormatDate(t time.Time) string {
	return string(appendDate(make([]byte, 0, 10), t))
}

// FormatDateTime formats t with the XEP-0082 §3.2 DateTime profile in t's own
// location: "Z" when the offset is zero, "+hh:mm"/"-hh:mm" otherwise. A
// non-zero sub-second part is written with as many digits as needed (at most
// nine). Call t.UTC() first for the UTC form that most protocols ask for.
func FormatDateTime(t time.Time) string {
	return string(AppendDateTime(make([]byte, 0, 35), t))
}

// AppendDateTime appends the XEP-0082 §3.2 DateTime form of t (see
// FormatDateTime) to dst.
func AppendDateTime(dst []byte, t time.Time) []byte {
	dst = appendDate(dst, t)
	dst = append(dst, 'T')
	return appendClock(dst, t, true)
}

// FormatTime formats the time of day of t with the XEP-0082 §3.3 Time
// profile, hh:mm:ss[.sss]TZD, always with the zone designator.
func FormatTime(t time.Time) string {
	return string(appendClock(make([]byte, 0, 24), t, true))
}

// FormatTZO formats the offset of t's location from UTC as a XEP-0082 TZD:
// "Z" for zero, otherwise "+hh:mm" or "-hh:mm" (XEP-0202 <tzo>).
func FormatTZO(t time.Time) string {
	_, off := t.Zone()
	return string(appendTZD(nil, off))
}

func appendDate(dst []byte, t time.Time) []byte {
	y, m, d := t.Date()
	if y < 0 || y > 9999 {
		// Outside CCYY: clamp to what the profile can represent.
		y = max(0, min(y, 9999))
	}
	dst = append4(dst, y)
	dst = append(dst, '-')
	dst = append2(dst, int(m))
	dst = append(dst, '-')
	return append2(dst, d)
}

func appendClock(dst []byte, t time.Time, zone bool) []byte {
	h, mi, s := t.Clock()
	dst = append2(dst, h)
	dst = append(dst, ':')
	dst = append2(dst, mi)
	dst = append(dst, ':')
	dst = append2(dst, s)
	if ns := t.Nanosecond(); ns != 0 {
		var frac [9]byte
		for i := 8; i >= 0; i-- {
			frac[i] = byte('0' + ns%10)
			ns /= 10
		}
		n := 9
		for frac[n-1] == '0' {
			n--
		}
		dst = append(dst, '.')
		dst = append(dst, frac[:n]...)
	}
	if zone {
		_, off := t.Zone()
		dst = appendTZD(dst, off)
	}
	return dst
}

func appendTZD(dst []byte, off int) []byte {
	if off == 0 {
		return append(dst, 'Z')
	}
	sign := byte('+')
	if off < 0 {
		sign = '-'
		off = -off
	}
	off /= 60 // minutes; second offsets are not representable
	dst = append(dst, sign)
	dst = append2(dst, off/60)
	dst = append(dst, ':')
	return append2(dst, off%60)
}

func append2(dst []byte, v int) []byte {
	return append(dst, byte('0'+v/10%10), byte('0'+v%10))
}

func append4(dst []byte, v int) []byte {
	return append(dst, byte('0'+v/1000%10), byte('0'+v/100%10), byte('0'+v/10%10), byte('0'+v%10))
}

// ParseDate parses the XEP-0082 §3.1 Date profile (CCYY-MM-DD). The result is
// midnight UTC of that day.
func ParseDate(s string) (time.Time, error) {
	p := parser{profile: "Date", in: s}
	y, m, d, ok := p.date()
	if !ok {
		return time.Time{}, p.err
	}
	if p.pos != len(s) {
		return time.Time{}, p.fail("trailing characters")
	}
	return time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC), nil
}

// ParseDateTime parses the XEP-0082 §3.2 DateTime profile
// (CCYY-MM-DDThh:mm:ss[.sss]TZD). The zone designator is required; the
// result is in time.UTC for "Z" and in a fixed zone for an offset.
func ParseDateTime(s string) (time.Time, error) {
	p := parser{profile: "DateTime", in: s}
	y, m, d, ok := p.date()
	if !ok {
		return time.Time{}, p.err
	}
	if !p.byte('T') {
		return time.Time{}, p.fail("missing 'T' between date and time")
	}
	h, mi, sec, ns, ok := p.clock()
	if !ok {
		return time.Time{}, p.err
	}
	if p.pos == len(s) {
		return time.Time{}, p.fail("missing time zone designator")
	}
	loc, ok := p.tzd()
	if !ok {
		return time.Time{}, p.err
	}
	if p.pos != len(s) {
		return time.Time{}, p.fail("trailing characters")
	}
	return time.Date(y, time.Month(m), d, h, mi, sec, ns, loc), nil
}

// ParseTime parses the XEP-0082 §3.3 Time profile (hh:mm:ss[.sss][TZD]). The
// result carries the time of day on January 1 of year 0, in time.UTC when
// the designator is "Z" or absent and in a fixed zone for an offset; hasZone
// says whether a designator was present.
func ParseTime(s string) (t time.Time, hasZone bool, err error) {
	p := parser{profile: "Time", in: s}
	h, mi, sec, ns, ok := p.clock()
	if !ok {
		return time.Time{}, false, p.err
	}
	loc := time.UTC
	if p.pos < len(s) {
		hasZone = true
		if loc, ok = p.tzd(); !ok {
			return time.Time{}, false, p.err
		}
		if p.pos != len(s) {
			return time.Time{}, false, p.fail("trailing characters")
		}
	}
	return time.Date(0, time.January, 1, h, mi, sec, ns, loc), hasZone, nil
}

// ParseTZO parses a XEP-0082 time zone designator ("Z", "+hh:mm" or
// "-hh:mm"), as found in XEP-0202 <tzo>, and returns the offset in seconds
// east of UTC.
func ParseTZO(s string) (int, error) {
	p := parser{profile: "TZD", in: s}
	off, ok := p.offset()
	if !ok {
		return 0, p.err
	}
	if p.pos != len(s) {
		return 0, p.fail("trailing characters")
	}
	return off, nil
}

type parser struct {
	profile string
	in      string
	pos     int
	err     error
}

func (p *parser) fail(msg string) error {
	p.err = &ParseError{Profile: p.profile, Input: p.in, Msg: msg}
	return p.err
}

func (p *parser) byte(c byte) bool {
	if p.pos < len(p.in) && p.in[p.pos] == c {
		p.pos++
		return true
	}
	return false
}

// digits reads exactly n ASCII digits.
func (p *parser) digits(n int, what string) (int, bool) {
	if p.pos+n > len(p.in) {
		p.fail("short " + what)
		return 0, false
	}
	v := 0
	for i := range n {
		c := p.in[p.pos+i]
		if c < '0' || c > '9' {
			p.fail("non-digit in " + what)
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	p.pos += n
	return v, true
}

func (p *parser) date() (y, m, d int, ok bool) {
	if y, ok = p.digits(4, "year"); !ok {
		return
	}
	if !p.byte('-') {
		p.fail("expected '-' after year")
		return 0, 0, 0, false
	}
	if m, ok = p.digits(2, "month"); !ok {
		return
	}
	if !p.byte('-') {
		p.fail("expected '-' after month")
		return 0, 0, 0, false
	}
	if d, ok = p.digits(2, "day"); !ok {
		return
	}
	if m < 1 || m > 12 {
		p.fail("month out of range")
		return 0, 0, 0, false
	}
	if d < 1 || d > daysIn(y, m) {
		p.fail("day out of range")
		return 0, 0, 0, false
	}
	return y, m, d, true
}

func daysIn(y, m int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

func (p *parser) clock() (h, mi, s, ns int, ok bool) {
	if h, ok = p.digits(2, "hour"); !ok {
		return
	}
	if !p.byte(':') {
		p.fail("expected ':' after hour")
		return 0, 0, 0, 0, false
	}
	if mi, ok = p.digits(2, "minute"); !ok {
		return
	}
	if !p.byte(':') {
		p.fail("expected ':' after minute")
		return 0, 0, 0, 0, false
	}
	if s, ok = p.digits(2, "second"); !ok {
		return
	}
	if h > 23 || mi > 59 || s > 59 {
		p.fail("time of day out of range")
		return 0, 0, 0, 0, false
	}
	if p.byte('.') {
		start := p.pos
		scale := 100_000_000
		for p.pos < len(p.in) && p.in[p.pos] >= '0' && p.in[p.pos] <= '9' {
			// Digits beyond nanoseconds are read and ignored.
			ns += int(p.in[p.pos]-'0') * scale
			scale /= 10
			p.pos++
		}
		if p.pos == start {
			p.fail("empty fraction of second")
			return 0, 0, 0, 0, false
		}
	}
	return h, mi, s, ns, true
}

func (p *parser) offset() (int, bool) {
	if p.byte('Z') {
		return 0, true
	}
	sign := 1
	switch {
	case p.byte('+'):
	case p.byte('-'):
		sign = -1
	default:
		p.fail("expected 'Z', '+' or '-' in zone designator")
		return 0, false
	}
	h, ok := p.digits(2, "zone hour")
	if !ok {
		return 0, false
	}
	if !p.byte(':') {
		p.fail("expected ':' in zone offset")
		return 0, false
	}
	m, ok := p.digits(2, "zone minute")
	if !ok {
		return 0, false
	}
	if h > 14 || m > 59 || (h == 14 && m != 0) {
		p.fail("zone offset out of range")
		return 0, false
	}
	return sign * (h*3600 + m*60), true
}

func (p *parser) tzd() (*time.Location, bool) {
	off, ok := p.offset()
	if !ok {
		return nil, false
	}
	return zoneFor(off), true
}

// zoneFor returns time.UTC for a zero offset and a fixed zone otherwise.
func zoneFor(off int) *time.Location {
	if off == 0 {
		return time.UTC
	}
	return time.FixedZone(string(appendTZD(nil, off)), off)
}
