package stream

import (
	"bytes"
	"strings"

	"xmppkit.dev/internal/wire"
	"xmppkit.dev/internal/xmlscan"
)

// Condition is a defined stream error condition (RFC 6120 §4.9.3), the local
// name of an empty element in the [NSStreamErrors] namespace.
type Condition string

// The defined stream error conditions of RFC 6120 §4.9.3.
const (
	BadFormat              Condition = "bad-format"
	BadNamespacePrefix     Condition = "bad-namespace-prefix"
	Conflict               Condition = "conflict"
	ConnectionTimeout      Condition = "connection-timeout"
	HostGone               Condition = "host-gone"
	HostUnknown            Condition = "host-unknown"
	ImproperAddressing     Condition = "improper-addressing"
	InternalServerError    Condition = "internal-server-error"
	InvalidFrom            Condition = "invalid-from"
	InvalidNamespace       Condition = "invalid-namespace"
	InvalidXML             Condition = "invalid-xml"
	NotAuthorized          Condition = "not-authorized"
	NotWellFormed          Condition = "not-well-formed"
	PolicyViolation        Condition = "policy-violation"
	RemoteConnectionFailed Condition = "remote-connection-failed"
	Reset                  Condition = "reset"
	ResourceConstraint     Condition = "resource-constraint"
	RestrictedXML          Condition = "restricted-xml"
	SeeOtherHost           Condition = "see-other-host"
	SystemShutdown         Condition = "system-shutdown"
	UndefinedCondition     Condition = "undefined-condition"
	UnsupportedEncoding    Condition = "unsupported-encoding"
	UnsupportedFeature     Condition = "unsupported-feature"
	UnsupportedStanzaType  Condition = "unsupported-stanza-type"
	UnsupportedVersion     Condition = "unsupported-version"
)

// Conditions lists the defined conditions of RFC 6120 §4.9.3 in the RFC's order.
var Conditions = []Condition{
	BadFormat, BadNamespacePrefix, Conflict, ConnectionTimeout, HostGone,
	HostUnknown, ImproperAddressing, InternalServerError, InvalidFrom,
	InvalidNamespace, InvalidXML, NotAuthorized, NotWellFormed,
	PolicyViolation, RemoteConnectionFailed, Reset, ResourceConstraint,
	RestrictedXML, SeeOtherHost, SystemShutdown, UndefinedCondition,
	UnsupportedEncoding, UnsupportedFeature, UnsupportedStanzaType,
	UnsupportedVersion,
}

// Error is a stream error (RFC 6120 §4.9): it closes the stream. It
// implements error, and errors.Is matches two *Error values on Condition
// alone (errors.Is(err, stream.ErrNotAuthorized)).
//
// The Reader returns a *Error both for an error the peer sent in
// <stream:error/> (Remote true: the stream is over, nothing needs sending)
// and for bad input it detected (Remote false: send it with
// Writer.WriteError, then close).
type Error struct {
	Condition Condition
	Text      string // optional descriptive text (§4.9.2)
	Lang      string // xml:lang of Text
	// App is the raw XML of an application-specific condition element
	// (§4.9.4), written as is; it must declare its namespace.
	App string
	// Host is the character data of see-other-host: the alternate host
	// (and optional port) to connect to (§4.9.3.19).
	Host string
	// Remote is true when the error was received from the peer.
	Remote bool
}

// Sentinel errors for errors.Is, one per defined condition (RFC 6120 §4.9.3).
// Do not modify them; build a new *Error to send.
var (
	ErrBadFormat              = &Error{Condition: BadFormat}
	ErrBadNamespacePrefix     = &Error{Condition: BadNamespacePrefix}
	ErrConflict               = &Error{Condition: Conflict}
	ErrConnectionTimeout      = &Error{Condition: ConnectionTimeout}
	ErrHostGone               = &Error{Condition: HostGone}
	ErrHostUnknown            = &Error{Condition: HostUnknown}
	ErrImproperAddressing     = &Error{Condition: ImproperAddressing}
	ErrInternalServerError    = &Error{Condition: InternalServerError}
	ErrInvalidFrom            = &Error{Condition: InvalidFrom}
	ErrInvalidNamespace       = &Error{Condition: InvalidNamespace}
	ErrInvalidXML             = &Error{Condition: InvalidXML}
	ErrNotAuthorized          = &Error{Condition: NotAuthorized}
	ErrNotWellFormed          = &Error{Condition: NotWellFormed}
	ErrPolicyViolation        = &Error{Condition: PolicyViolation}
	ErrRemoteConnectionFailed = &Error{Condition: RemoteConnectionFailed}
	ErrReset                  = &Error{Condition: Reset}
	ErrResourceConstraint     = &Error{Condition: ResourceConstraint}
	ErrRestrictedXML          = &Error{Condition: RestrictedXML}
	ErrSeeOtherHost           = &Error{Condition: SeeOtherHost}
	ErrSystemShutdown         = &Error{Condition: SystemShutdown}
	ErrUndefinedCondition     = &Error{Condition: UndefinedCondition}
	ErrUnsupportedEncoding    = &Error{Condition: UnsupportedEncoding}
	ErrUnsupportedFeature     = &Error{Condition: UnsupportedFeature}
	ErrUnsupportedStanzaType  = &Error{Condition: UnsupportedStanzaType}
	ErrUnsupportedVersion     = &Error{Condition: UnsupportedVersion}
)

// NewError returns a stream error with the condition and text.
func NewError(c Condition, text string) *Error { return &Error{Condition: c, Text: text} }

// Error returns "stream error: <condition>: <text>", saying whether the peer
// sent it.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("stream error")
	if e.Remote {
		b.WriteString(" from peer")
	}
	b.WriteString(": ")
	b.WriteString(string(e.Condition))
	if e.Host != "" {
		b.WriteString(" ")
		b.WriteString(e.Host)
	}
	if e.Text != "" {
		b.WriteString(": ")
		b.WriteString(e.Text)
	}
	return b.String()
}

// Is reports whether target is a *Error with the same Condition.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t != nil && e != nil && t.Condition == e.Condition
}

// AppendXML appends <stream:error>…</stream:error> (RFC 6120 §4.9.2) to dst.
// It relies on the "stream" prefix being bound by the stream header. An empty
// Condition is written as undefined-condition.
func (e *Error) AppendXML(dst []byte) []byte {
	c := e.Condition
	if c == "" {
		c = UndefinedCondition
	}
	dst = append(dst, "<stream:error>"...)
	dst = wire.AppendCondition(dst, NSStreamErrors, string(c), e.Host, e.Text, e.Lang)
	dst = append(dst, e.App...)
	return append(dst, "</stream:error>"...)
}

// fromScanError turns a scanner error into the stream error to send.
func fromScanError(se *xmlscan.Error) *Error {
	return &Error{Condition: Condition(se.Condition), Text: se.Reason}
}

// parseError decodes a scanned <stream:error/> element from the peer.
func parseError(tok *xmlscan.Token) *Error {
	e := &Error{Remote: true}
	raw := tok.Raw
	for _, c := range tok.Children {
		child := raw[c.Off:c.End]
		switch {
		case string(c.Space) != NSStreamErrors:
			if e.App == "" {
				e.App = string(child)
			}
		case string(c.Local) == "text":
			e.Text, e.Lang = childText(child)
		case e.Condition == "":
			e.Condition = Condition(c.Local)
			if e.Condition == SeeOtherHost {
				e.Host, _ = childText(child)
				e.Host = strings.TrimSpace(e.Host)
			}
		}
	}
	if e.Condition == "" {
		e.Condition = UndefinedCondition
	}
	return e
}

// childText returns the unescaped character data of a text-only element and
// its xml:lang.
func childText(raw []byte) (text, lang string) {
	sc := xmlscan.New(bytes.NewReader(raw), xmlscan.Options{Fragment: true, DefaultNS: NSStreamErrors})
	tok, err := sc.Next()
	if err != nil || tok.Kind != xmlscan.KindElement {
		return "", ""
	}
	if v, ok := tok.Start.AttrNS(xmlscan.NSXML, "lang"); ok {
		if u, err := xmlscan.Unescape(nil, v); err == nil {
			lang = string(u)
		}
	}
	inner, ok := wire.Inner(tok.Raw)
	if !ok {
		return "", lang
	}
	u, err := xmlscan.Unescape(nil, inner)
	if err != nil {
		return "", lang
	}
	return string(u), lang
}
