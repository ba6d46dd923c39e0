package jid

import (
	"net/netip"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
	"golang.org/x/text/secure/precis"
)

// Byte classes for the ASCII fast path. A byte is in a class only if the
// part's full preparation leaves it unchanged.
const (
	// cLocal: printable ASCII that UsernameCaseMapped keeps as is (no
	// uppercase) and RFC 7622 §3.3.1 does not exclude.
	cLocal = 1 << iota
	// cLDH: lowercase letters, digits and hyphen (RFC 5890 LDH, mapped).
	cLDH
	// cRes: printable ASCII and space, kept as is by OpaqueString.
	cRes
	// cSep: '@' and '/', which end a localpart-or-domainpart run.
	cSep
)

var class = func() (t [256]uint8) {
	for c := 0x20; c <= 0x7e; c++ {
		t[c] |= cRes
		if c > 0x20 && !(c >= 'A' && c <= 'Z') && !strings.ContainsRune(`"&'/:<>@`, rune(c)) {
			t[c] |= cLocal
		}
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' {
			t[c] |= cLDH
		}
		if c == '@' || c == '/' {
			t[c] |= cSep
		}
	}
	return t
}()

// domainProfile is IDNA2008 as RFC 7622 §3.2 wants it: the lookup mapping of
// UTS #46 (case and width folding, RFC 5895), nontransitional, STD3 ASCII
// rules, hyphen, joiner and bidi checks. DNS length limits are not applied:
// RFC 7622 allows domainparts up to 1023 bytes.
var domainProfile = idna.New(
	idna.MapForLookup(),
	idna.Transitional(false),
	idna.StrictDomainName(true),
	idna.CheckHyphens(true),
	idna.CheckJoiners(true),
	idna.BidiRule(),
	idna.VerifyDNSLength(false),
)

// Parse parses and prepares a JID from its text form as RFC 7622 §3.1
// describes: the resourcepart is what follows the first '/', the localpart
// what precedes the first '@' before that, and the rest is the domainpart.
// Each part is then prepared and checked (see the package documentation).
//
// If s is already canonical ASCII, Parse does not allocate and the JID
// refers to s itself; ASCII that only needs lowercasing (or loses a
// trailing dot) costs one allocation. A canonical non-ASCII s is not
// copied either. Errors are of type *[Error].
func Parse(s string) (JID, error) {
	if j, ok := parseFast(s); ok {
		j.s = s
		return j, nil
	}
	if j, ok := parseFold(s); ok {
		return j, nil
	}
	return parseSlow(s, false)
}

// ParseBytes is [Parse] for a byte slice. In the canonical ASCII case it
// allocates once, for the JID's string; b is not retained.
func ParseBytes(b []byte) (JID, error) {
	j, ok := parseFast(b)
	s := string(b)
	if ok {
		j.s = s
		return j, nil
	}
	if j, ok := parseFold(s); ok {
		return j, nil
	}
	return parseSlow(s, false)
}

// MustParse is like [Parse] but panics if s is not a valid JID. It is meant
// for addresses written in the program's source.
func MustParse(s string) JID {
	j, err := Parse(s)
	if err != nil {
		panic("jid.MustParse(" + strconv.Quote(s) + "): " + err.Error())
	}
	return j
}

// New builds a JID from its parts, preparing each one (RFC 7622 §3.2-§3.4).
// An empty local or resource means the JID has no such part; domain must
// not be empty.
func New(local, domain, resource string) (JID, error) {
	var pl, pr string
	var err error
	if local != "" {
		if pl, err = prepLocal(local, false); err != nil {
			return JID{}, err
		}
	}
	pd, err := prepDomain(domain, false)
	if err != nil {
		return JID{}, err
	}
	if resource != "" {
		if pr, err = prepResource(resource, false); err != nil {
			return JID{}, err
		}
	}
	return assemble(pl, pd, pr, local != "", resource != ""), nil
}

// assemble joins prepared parts into a JID.
func assemble(local, domain, res string, hasLocal, hasRes bool) JID {
	n := len(domain)
	if hasLocal {
		n += len(local) + 1
	}
	if hasRes {
		n += len(res) + 1
	}
	var b strings.Builder
	b.Grow(n)
	var j JID
	if hasLocal {
		b.WriteString(local)
		b.WriteByte('@')
		j.dstart = uint16(len(local) + 1)
	}
	b.WriteString(domain)
	j.dend = uint16(int(j.dstart) + len(domain))
	if hasRes {
		b.WriteByte('/')
		b.WriteString(res)
	}
	j.s = b.String()
	return j
}

// parseFast accepts exactly the JIDs that are ASCII and already canonical,
// i.e. those the full preparation would return unchanged. Anything else
// (including every invalid input) is left to parseSlow. It makes one pass
// over the localpart and resourcepart and at most two over the domainpart.
func parseFast[T string | []byte](s T) (JID, bool) {
	n := len(s)
	if n == 0 || n > 3*maxPart+2 {
		return JID{}, false
	}
	// Up to the first '@' or '/': a localpart if '@' follows.
	i := 0
	acc := uint8(cLocal)
	for ; i < n; i++ {
		k := class[s[i]]
		if k&cSep != 0 {
			break
		}
		acc &= k
	}
	dstart := 0
	if i < n && s[i] == '@' {
		if i == 0 || i > maxPart || acc&cLocal == 0 {
			return JID{}, false
		}
		dstart = i + 1
	}
	dend, ok := scanDomain(s, dstart)
	if !ok {
		return JID{}, false
	}
	if dend < n {
		// s[dend] is '/'.
		if rl := n - dend - 1; rl == 0 || rl > maxPart {
			return JID{}, false
		}
		acc = cRes
		for _, c := range []byte(s[dend+1:]) {
			acc &= class[c]
		}
		if acc == 0 {
			return JID{}, false
		}
	}
	return JID{dstart: uint16(dstart), dend: uint16(dend)}, true
}

// scanDomain checks the domainpart that starts at s[start] and ends at the
// next '/' or the end of s, and returns where it ends. It accepts only
// domain names of lowercase LDH labels that IDNA processing leaves
// unchanged: no empty label, no trailing dot, no label starting or ending
// with '-', no "--" in positions 3-4 (which includes A-labels, converted to
// U-labels by the slow path).
func scanDomain[T string | []byte](s T, start int) (end int, ok bool) {
	ls := start // start of the current label
	i := start
	for ; i < len(s); i++ {
		c := s[i]
		if class[c]&cLDH != 0 {
			continue
		}
		if c == '.' {
			if !labelOK(s, ls, i) {
				return 0, false
			}
			ls = i + 1
			continue
		}
		if c == '/' {
			break
		}
		return 0, false
	}
	if !labelOK(s, ls, i) || i-start > maxPart {
		return 0, false
	}
	return i, true
}

func labelOK[T string | []byte](s T, start, end int) bool {
	l := end - start
	return l > 0 && s[start] != '-' && s[end-1] != '-' &&
		!(l >= 4 && s[start+2] == '-' && s[start+3] == '-')
}

// fastDomain reports whether the whole of d passes scanDomain.
func fastDomain(d string) bool {
	end, ok := scanDomain(d, 0)
	return ok && end == len(d)
}

// parseFold handles ASCII JIDs that are canonical but for uppercase letters
// in the localpart or domainpart, or a trailing dot on the domainpart: on
// ASCII, PRECIS and IDNA only lowercase there. It builds the folded string
// in one allocation and hands it to parseFast; false means "not this case".
func parseFold(s string) (JID, bool) {
	head := s
	if i := strings.IndexByte(s, '/'); i >= 0 {
		head = s[:i]
	}
	fold := false
	for i := 0; i < len(head); i++ {
		c := head[i]
		if c >= utf8.RuneSelf {
			return JID{}, false
		}
		fold = fold || c >= 'A' && c <= 'Z'
	}
	dot := 0
	if strings.HasSuffix(head, ".") {
		dot = 1
	}
	if !fold && dot == 0 {
		return JID{}, false
	}
	var b strings.Builder
	b.Grow(len(s) - dot)
	for i := 0; i < len(head)-dot; i++ {
		c := head[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		b.WriteByte(c)
	}
	b.WriteString(s[len(head):])
	f := b.String()
	j, ok := parseFast(f)
	if !ok {
		return JID{}, false
	}
	j.s = f
	return j, true
}

// parseSlow splits s as RFC 7622 §3.1 says and prepares each part. With ref
// set it takes no ASCII shortcut, which tests use as the reference.
func parseSlow(s string, ref bool) (JID, error) {
	if s == "" {
		return JID{}, partErr(PartDomain, ErrEmptyDomain)
	}
	head, res, hasRes := strings.Cut(s, "/")
	local, domain, hasLocal := strings.Cut(head, "@")
	if !hasLocal {
		local, domain = "", head
	}
	var pl, pr string
	var err error
	if hasLocal {
		if pl, err = prepLocal(local, ref); err != nil {
			return JID{}, err
		}
	}
	pd, err := prepDomain(domain, ref)
	if err != nil {
		return JID{}, err
	}
	if hasRes {
		if pr, err = prepResource(res, ref); err != nil {
			return JID{}, err
		}
	}
	if pl == local && pd == domain && pr == res {
		j := JID{s: s, dend: uint16(len(head))}
		if hasLocal {
			j.dstart = uint16(len(local) + 1)
		}
		return j, nil
	}
	return assemble(pl, pd, pr, hasLocal, hasRes), nil
}

// prepLocal prepares a localpart (RFC 7622 §3.3): UsernameCaseMapped plus
// the exclusions of §3.3.1. With ref set it takes no ASCII shortcut.
func prepLocal(raw string, ref bool) (string, error) {
	out, err := prepPrecis(raw, PartLocal, precis.UsernameCaseMapped, cLocal, ref)
	if err != nil {
		return "", err
	}
	if i := strings.IndexAny(out, `"&'/:<>@`); i >= 0 {
		return "", &Error{Part: PartLocal, Reason: ErrForbiddenChar, Err: excludedErr(out[i])}
	}
	return out, nil
}

type excludedErr byte

func (e excludedErr) Error() string {
	return "RFC 7622 §3.3.1 excludes " + strconv.QuoteRune(rune(e)) + " from localparts"
}

// prepResource prepares a resourcepart (RFC 7622 §3.4): OpaqueString.
func prepResource(raw string, ref bool) (string, error) {
	return prepPrecis(raw, PartResource, precis.OpaqueString, cRes, ref)
}

// prepPrecis applies a PRECIS profile to a non-empty part, skipping it when
// every byte is in the fast class (unless ref), and checks the length.
func prepPrecis(raw, part string, p *precis.Profile, fast uint8, ref bool) (string, error) {
	if raw == "" {
		if part == PartLocal {
			return "", partErr(part, ErrEmptyLocal)
		}
		return "", partErr(part, ErrEmptyResource)
	}
	if !utf8.ValidString(raw) {
		return "", partErr(part, ErrInvalidUTF8)
	}
	out := raw
	if part == PartLocal && !ref {
		// On ASCII, UsernameCaseMapped only lowercases.
		out = asciiLower(raw)
	}
	if ref || !allClass(out, fast) {
		var err error
		if out, err = p.String(raw); err != nil {
			return "", precisErr(part, err)
		}
	}
	if len(out) > maxPart {
		return "", partErr(part, ErrTooLong)
	}
	return out, nil
}

// prepDomain prepares a domainpart (RFC 7622 §3.2): an IPv6 literal in
// brackets, or a domain name (IPv4 dotted quads included) processed with
// IDNA2008 into U-labels, with one trailing dot removed.
func prepDomain(raw string, ref bool) (string, error) {
	if raw == "" {
		return "", partErr(PartDomain, ErrEmptyDomain)
	}
	if !utf8.ValidString(raw) {
		return "", partErr(PartDomain, ErrInvalidUTF8)
	}
	if !ref && fastDomain(raw) {
		return raw, nil
	}
	if raw[0] == '[' {
		return prepIPLiteral(raw)
	}
	d, stripped := strings.CutSuffix(raw, ".")
	if d == "" {
		return "", partErr(PartDomain, ErrEmptyDomain)
	}
	if !ref {
		// On ASCII, the IDNA lookup mapping only lowercases.
		if l := asciiLower(d); fastDomain(l) {
			return l, nil
		}
	}
	out, err := domainProfile.ToUnicode(d)
	if err != nil {
		return "", &Error{Part: PartDomain, Reason: ErrInvalidDomain, Err: err}
	}
	if out != d {
		// The checks ran on the input; a mapped result must pass them too
		// (e.g. U+2136 maps to a Hebrew letter, so the bidi rule applies),
		// or the JID would not parse back from its own String.
		again, err := domainProfile.ToUnicode(out)
		if err != nil {
			return "", &Error{Part: PartDomain, Reason: ErrInvalidDomain, Err: err}
		}
		if again != out {
			return "", &Error{Part: PartDomain, Reason: ErrInvalidDomain, Err: errUnstable}
		}
	}
	if !stripped {
		// A full stop written as U+3002 or U+FF0E became '.' in mapping.
		out = strings.TrimSuffix(out, ".")
	}
	if out == "" {
		return "", partErr(PartDomain, ErrEmptyDomain)
	}
	if out[0] == '.' || out[len(out)-1] == '.' || strings.Contains(out, "..") {
		return "", &Error{Part: PartDomain, Reason: ErrInvalidDomain, Err: errEmptyLabel}
	}
	if len(out) > maxPart {
		return "", partErr(PartDomain, ErrTooLong)
	}
	return out, nil
}

type constErr string

func (e constErr) Error() string { return string(e) }

const (
	errEmptyLabel = constErr("empty label")
	errUnstable   = constErr("IDNA mapping is not stable")
	errBadLiteral = constErr("an IP literal must be an IPv6 address without zone in brackets")
)

// prepIPLiteral checks a bracketed IPv6 literal (RFC 3986 §3.2.2) and
// returns it in the canonical text form of RFC 5952.
func prepIPLiteral(raw string) (string, error) {
	inner, ok := strings.CutPrefix(raw, "[")
	if ok {
		inner, ok = strings.CutSuffix(inner, "]")
	}
	if !ok {
		return "", &Error{Part: PartDomain, Reason: ErrInvalidDomain, Err: errBadLiteral}
	}
	a, err := netip.ParseAddr(inner)
	if err != nil {
		return "", &Error{Part: PartDomain, Reason: ErrInvalidDomain, Err: err}
	}
	if !a.Is6() || a.Zone() != "" {
		return "", &Error{Part: PartDomain, Reason: ErrInvalidDomain, Err: errBadLiteral}
	}
	if c := a.String(); c != inner {
		return "[" + c + "]", nil
	}
	return raw, nil
}

func allClass(s string, c uint8) bool {
	for i := 0; i < len(s); i++ {
		if class[s[i]]&c == 0 {
			return false
		}
	}
	return true
}

// asciiLower returns s with ASCII uppercase letters lowercased, allocating
// only if there are any.
func asciiLower(s string) string {
	i := 0
	for ; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			break
		}
	}
	if i == len(s) {
		return s
	}
	b := []byte(s)
	for ; i < len(b); i++ {
		if c := b[i]; c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
