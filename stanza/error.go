package stanza

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"

	"xmppkit.dev/internal/wire"
	"xmppkit.dev/internal/xmlscan"
	"xmppkit.dev/jid"
)

// NSStanzas is the namespace of the defined stanza error conditions and of
// the error text (RFC 6120 §8.3.3, §8.3.4).
const NSStanzas = "urn:ietf:params:xml:ns:xmpp-stanzas"

// ErrorType is the type attribute of a stanza error (RFC 6120 §8.3.2).
type ErrorType string

// The error types of RFC 6120 §8.3.2.
const (
	Auth     ErrorType = "auth"     // retry after providing credentials
	Cancel   ErrorType = "cancel"   // do not retry: the error cannot be remedied
	Continue ErrorType = "continue" // proceed: the condition was only a warning
	Modify   ErrorType = "modify"   // retry after changing the data sent
	Wait     ErrorType = "wait"     // retry after waiting: the error is temporary
)

// Condition is a defined stanza error condition (RFC 6120 §8.3.3), the local
// name of an empty element in the [NSStanzas] namespace.
type Condition string

// The 22 defined conditions of RFC 6120 §8.3.3.
const (
	BadRequest            Condition = "bad-request"
	Conflict              Condition = "conflict"
	FeatureNotImplemented Condition = "feature-not-implemented"
	Forbidden             Condition = "forbidden"
	Gone                  Condition = "gone"
	InternalServerError   Condition = "internal-server-error"
	ItemNotFound          Condition = "item-not-found"
	JIDMalformed          Condition = "jid-malformed"
	NotAcceptable         Condition = "not-acceptable"
	NotAllowed            Condition = "not-allowed"
	NotAuthorized         Condition = "not-authorized"
	PolicyViolation       Condition = "policy-violation"
	RecipientUnavailable  Condition = "recipient-unavailable"
	Redirect              Condition = "redirect"
	RegistrationRequired  Condition = "registration-required"
	RemoteServerNotFound  Condition = "remote-server-not-found"
	RemoteServerTimeout   Condition = "remote-server-timeout"
	ResourceConstraint    Condition = "resource-constraint"
	ServiceUnavailable    Condition = "service-unavailable"
	SubscriptionRequired  Condition = "subscription-required"
	UndefinedCondition    Condition = "undefined-condition"
	UnexpectedRequest     Condition = "unexpected-request"
)

// Conditions lists the defined conditions of RFC 6120 §8.3.3 in the RFC's order.
var Conditions = []Condition{
	BadRequest, Conflict, FeatureNotImplemented, Forbidden, Gone,
	InternalServerError, ItemNotFound, JIDMalformed, NotAcceptable, NotAllowed,
	NotAuthorized, PolicyViolation, RecipientUnavailable, Redirect,
	RegistrationRequired, RemoteServerNotFound, RemoteServerTimeout,
	ResourceConstraint, ServiceUnavailable, SubscriptionRequired,
	UndefinedCondition, UnexpectedRequest,
}

// DefaultType is the error type RFC 6120 §8.3.3 gives with each condition's
// example; it is "" for a condition that is not defined.
func (c Condition) DefaultType() ErrorType {
	switch c {
	case BadRequest, JIDMalformed, NotAcceptable, PolicyViolation, Redirect, UndefinedCondition:
		return Modify
	case Forbidden, NotAuthorized, RegistrationRequired, SubscriptionRequired:
		return Auth
	case RecipientUnavailable, RemoteServerTimeout, ResourceConstraint, UnexpectedRequest:
		return Wait
	case Conflict, FeatureNotImplemented, Gone, InternalServerError, ItemNotFound,
		NotAllowed, RemoteServerNotFound, ServiceUnavailable:
		return Cancel
	}
	return ""
}

// Error is a stanza error (RFC 6120 §8.3): the <error/> child of a stanza of
// type "error". It implements error; errors.Is matches two *Error values on
// their Condition alone, so errors.Is(err, stanza.ErrItemNotFound) holds for
// any item-not-found error whatever its type or text.
type Error struct {
	Type      ErrorType // error type; "" encodes the condition's DefaultType
	Condition Condition // the defined condition
	Text      string    // optional human-readable text (§8.3.2)
	Lang      string    // xml:lang of Text
	By        jid.JID   // optional entity that generated the error
	// App is the raw XML of an application-specific condition element
	// (§8.3.2), written as is: it must be one well-formed element that
	// declares its namespace.
	App string
	// Redirect is the character data of <gone/> or <redirect/>: the URI
	// (usually xmpp:) of the new address (§8.3.3.5, §8.3.3.14).
	Redirect string
}

// NewError returns an error with the condition's default type and text.
func NewError(c Condition, text string) *Error {
	return &Error{Type: c.DefaultType(), Condition: c, Text: text}
}

// Sentinel errors for errors.Is, one per defined condition (RFC 6120 §8.3.3).
// They are shared values: do not modify them; use NewError to build one to send.
var (
	ErrBadRequest            = NewError(BadRequest, "")
	ErrConflict              = NewError(Conflict, "")
	ErrFeatureNotImplemented = NewError(FeatureNotImplemented, "")
	ErrForbidden             = NewError(Forbidden, "")
	ErrGone                  = NewError(Gone, "")
	ErrInternalServerError   = NewError(InternalServerError, "")
	ErrItemNotFound          = NewError(ItemNotFound, "")
	ErrJIDMalformed          = NewError(JIDMalformed, "")
	ErrNotAcceptable         = NewError(NotAcceptable, "")
	ErrNotAllowed            = NewError(NotAllowed, "")
	ErrNotAuthorized         = NewError(NotAuthorized, "")
	ErrPolicyViolation       = NewError(PolicyViolation, "")
	ErrRecipientUnavailable  = NewError(RecipientUnavailable, "")
	ErrRedirect              = NewError(Redirect, "")
	ErrRegistrationRequired  = NewError(RegistrationRequired, "")
	ErrRemoteServerNotFound  = NewError(RemoteServerNotFound, "")
	ErrRemoteServerTimeout   = NewError(RemoteServerTimeout, "")
	ErrResourceConstraint    = NewError(ResourceConstraint, "")
	ErrServiceUnavailable    = NewError(ServiceUnavailable, "")
	ErrSubscriptionRequired  = NewError(SubscriptionRequired, "")
	ErrUndefinedCondition    = NewError(UndefinedCondition, "")
	ErrUnexpectedRequest     = NewError(UnexpectedRequest, "")
)

// Error returns "stanza error: <type> <condition>" followed by the text.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("stanza error: ")
	if t := e.typ(); t != "" {
		b.WriteString(string(t))
		b.WriteByte(' ')
	}
	b.WriteString(string(e.Condition))
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

func (e *Error) typ() ErrorType {
	if e.Type != "" {
		return e.Type
	}
	if t := e.Condition.DefaultType(); t != "" {
		return t
	}
	return Cancel
}

// AppendXML appends the <error/> element (RFC 6120 §8.3.2) to dst. The element
// carries no xmlns: it belongs to the enclosing stanza's namespace. An empty
// Condition is written as undefined-condition.
func (e *Error) AppendXML(dst []byte) []byte {
	dst = append(dst, "<error type='"...)
	dst = xmlscan.AppendEscapedAttr(dst, string(e.typ()))
	dst = append(dst, '\'')
	if !e.By.IsZero() {
		dst = append(dst, " by='"...)
		dst = xmlscan.AppendEscapedAttr(dst, e.By.String())
		dst = append(dst, '\'')
	}
	dst = append(dst, '>')
	c := e.Condition
	if c == "" {
		c = UndefinedCondition
	}
	dst = wire.AppendCondition(dst, NSStanzas, string(c), e.Redirect, e.Text, e.Lang)
	dst = append(dst, e.App...)
	return append(dst, "</error>"...)
}

// ParseError decodes an <error/> element (RFC 6120 §8.3.2) from its raw XML.
// The element may be in any namespace (it inherits the stanza's). An element
// without a defined condition decodes as undefined-condition.
func ParseError(raw string) (*Error, error) {
	d := xml.NewDecoder(strings.NewReader(raw))
	d.Strict = true
	start, err := firstStart(d)
	if err != nil {
		return nil, fmt.Errorf("stanza: bad <error/>: %w", err)
	}
	if start.Name.Local != "error" {
		return nil, fmt.Errorf("stanza: <%s/> is not an <error/> element", start.Name.Local)
	}
	e := &Error{}
	for _, a := range start.Attr {
		switch {
		case a.Name.Space == "" && a.Name.Local == "type":
			e.Type = ErrorType(a.Value)
		case a.Name.Space == "" && a.Name.Local == "by":
			if a.Value != "" {
				j, err := jid.Parse(a.Value)
				if err != nil {
					return nil, fmt.Errorf("stanza: bad by=%q in <error/>: %w", a.Value, err)
				}
				e.By = j
			}
		}
	}
	for {
		off := d.InputOffset()
		tok, err := d.Token()
		if err != nil {
			return nil, fmt.Errorf("stanza: bad <error/>: %w", err)
		}
		switch t := tok.(type) {
		case xml.EndElement:
			if e.Condition == "" {
				e.Condition = UndefinedCondition
			}
			return e, nil
		case xml.StartElement:
			switch {
			case t.Name.Space == NSStanzas && t.Name.Local == "text":
				var txt struct {
					Lang string `xml:"http://www.w3.org/XML/1998/namespace lang,attr"`
					Text string `xml:",chardata"`
				}
				if err := d.DecodeElement(&txt, &t); err != nil {
					return nil, fmt.Errorf("stanza: bad <text/> in <error/>: %w", err)
				}
				if txt.Text != "" {
					e.Text, e.Lang = txt.Text, txt.Lang
				}
			case t.Name.Space == NSStanzas && e.Condition == "":
				var s struct {
					Text string `xml:",chardata"`
				}
				if err := d.DecodeElement(&s, &t); err != nil {
					return nil, fmt.Errorf("stanza: bad condition in <error/>: %w", err)
				}
				e.Condition = Condition(t.Name.Local)
				e.Redirect = strings.TrimSpace(s.Text)
			default:
				if err := d.Skip(); err != nil {
					return nil, fmt.Errorf("stanza: bad <error/>: %w", err)
				}
				if e.App == "" && t.Name.Space != NSStanzas {
					e.App = strings.TrimSpace(raw[off:d.InputOffset()])
				}
			}
		}
	}
}

// firstStart returns the first start element of d.
func firstStart(d *xml.Decoder) (xml.StartElement, error) {
	for {
		tok, err := d.Token()
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return xml.StartElement{}, err
		}
		if s, ok := tok.(xml.StartElement); ok {
			return s, nil
		}
	}
}
