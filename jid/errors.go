package jid

import (
	"errors"
	"strings"

	"golang.org/x/text/secure/bidirule"
)

// Names of the three parts of a JID (RFC 7622 §3), as used in [Error.Part].
const (
	PartLocal    = "localpart"
	PartDomain   = "domainpart"
	PartResource = "resourcepart"
)

// Sentinel reasons for an invalid JID, for use with errors.Is. An *[Error]
// wraps exactly one of them.
var (
	// ErrEmptyLocal: an '@' with nothing before it (RFC 7622 §3.3).
	ErrEmptyLocal = errors.New("empty localpart")
	// ErrEmptyDomain: no domainpart at all, e.g. "" or "user@" (RFC 7622 §3.2).
	ErrEmptyDomain = errors.New("empty domainpart")
	// ErrEmptyResource: a '/' with nothing after it (RFC 7622 §3.4).
	ErrEmptyResource = errors.New("empty resourcepart")
	// ErrTooLong: a part longer than 1023 bytes after preparation
	// (RFC 7622 §3.2, §3.3, §3.4).
	ErrTooLong = errors.New("longer than 1023 bytes")
	// ErrInvalidUTF8: the input is not valid UTF-8 (RFC 7622 §3.1).
	ErrInvalidUTF8 = errors.New("invalid UTF-8")
	// ErrForbiddenChar: a code point that the part's PRECIS profile
	// disallows, or one of the characters RFC 7622 §3.3.1 excludes from
	// localparts (" & ' / : < > @).
	ErrForbiddenChar = errors.New("forbidden character")
	// ErrBidi: the part breaks the Bidi Rule of RFC 5893.
	ErrBidi = errors.New("violates the bidi rule")
	// ErrInvalidDomain: the domainpart is neither a valid IDNA2008 domain
	// name nor an IP literal (RFC 7622 §3.2).
	ErrInvalidDomain = errors.New("not a valid domain name or IP literal")
)

// Error describes why a string is not a valid JID. Part is one of
// [PartLocal], [PartDomain], [PartResource]; Reason is one of the Err*
// sentinels; Err, when not nil, is the underlying error from PRECIS, IDNA or
// IP address parsing. errors.Is matches both Reason and Err.
type Error struct {
	Part   string
	Reason error
	Err    error
}

// Error returns "jid: invalid <part>: <reason>", followed by the underlying
// cause in parentheses when there is one.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("jid: invalid ")
	b.WriteString(e.Part)
	b.WriteString(": ")
	b.WriteString(e.Reason.Error())
	if e.Err != nil {
		b.WriteString(" (")
		b.WriteString(e.Err.Error())
		b.WriteString(")")
	}
	return b.String()
}

// Unwrap returns the reason and, when present, the underlying cause.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Reason}
	}
	return []error{e.Reason, e.Err}
}

func partErr(part string, reason error) error {
	return &Error{Part: part, Reason: reason}
}

// precisErr classifies an error returned by a PRECIS profile.
func precisErr(part string, err error) error {
	reason := ErrForbiddenChar
	switch {
	case errors.Is(err, bidirule.ErrInvalid):
		reason = ErrBidi
	case strings.Contains(err.Error(), "empty string"):
		reason = ErrEmptyLocal
		if part == PartResource {
			reason = ErrEmptyResource
		}
	}
	return &Error{Part: part, Reason: reason, Err: err}
}
