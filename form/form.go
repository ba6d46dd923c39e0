package form

import (
	"encoding/xml"
	"fmt"
	"slices"
	"strconv"

	"xmppkit.dev/jid"
)

// NS is the XEP-0004 namespace.
const NS = "jabber:x:data"

// FormTypeVar is the var of the hidden field that names a form's type
// (XEP-0068, used by XEP-0128 and XEP-0115).
const FormTypeVar = "FORM_TYPE"

// Type is the type attribute of a form (XEP-0004 §3.1).
type Type string

// Form types (XEP-0004 §3.1).
const (
	TypeForm   Type = "form"
	TypeSubmit Type = "submit"
	TypeCancel Type = "cancel"
	TypeResult Type = "result"
)

// FieldType is the type attribute of a field (XEP-0004 §3.3). The empty
// FieldType means text-single, as the XEP's default.
type FieldType string

// Field types (XEP-0004 §3.3).
const (
	Boolean     FieldType = "boolean"
	Fixed       FieldType = "fixed"
	Hidden      FieldType = "hidden"
	JIDMulti    FieldType = "jid-multi"
	JIDSingle   FieldType = "jid-single"
	ListMulti   FieldType = "list-multi"
	ListSingle  FieldType = "list-single"
	TextMulti   FieldType = "text-multi"
	TextPrivate FieldType = "text-private"
	TextSingle  FieldType = "text-single"
)

func (t FieldType) known() bool {
	switch t {
	case "", Boolean, Fixed, Hidden, JIDMulti, JIDSingle, ListMulti, ListSingle, TextMulti, TextPrivate, TextSingle:
		return true
	}
	return false
}

// multi reports whether the field type allows more than one value.
func (t FieldType) multi() bool {
	return t == JIDMulti || t == ListMulti || t == TextMulti || t == Fixed
}

// Option is an <option/> of a list field (XEP-0004 §3.3).
type Option struct {
	Label string
	Value string
}

// Field is a <field/> of a data form (XEP-0004 §3.2).
type Field struct {
	Type     FieldType
	Var      string
	Label    string
	Desc     string
	Required bool
	Values   []string
	Options  []Option
}

// Value returns the first value of the field, or "" when it has none.
func (f *Field) Value() string {
	if len(f.Values) == 0 {
		return ""
	}
	return f.Values[0]
}

// Form is a jabber:x:data <x/> element (XEP-0004 §3): the form itself, the
// fields, and for a result with several items the reported field set and the
// items.
type Form struct {
	Type         Type
	Title        string
	Instructions []string
	Fields       []Field
	Reported     []Field   // the <reported/> field definitions (XEP-0004 §3.4)
	Items        [][]Field // one field list per <item/> (XEP-0004 §3.4)
}

// FormType returns the value of the hidden FORM_TYPE field (XEP-0068 §4), or
// "" when the form has none.
func (f *Form) FormType() string {
	if fld := f.Field(FormTypeVar); fld != nil {
		return fld.Value()
	}
	return ""
}

// Field returns the field with the given var, or nil.
func (f *Form) Field(name string) *Field {
	for i := range f.Fields {
		if f.Fields[i].Var == name {
			return &f.Fields[i]
		}
	}
	return nil
}

// Set replaces the values of the field with the given var, appending a
// field of the given type when there is none.
func (f *Form) Set(typ FieldType, name string, values ...string) {
	if fld := f.Field(name); fld != nil {
		fld.Values = slices.Clone(values)
		return
	}
	f.Fields = append(f.Fields, Field{Type: typ, Var: name, Values: slices.Clone(values)})
}

// Get returns the first value of the field with the given var and whether the
// field exists.
func (f *Form) Get(name string) (string, bool) {
	fld := f.Field(name)
	if fld == nil {
		return "", false
	}
	return fld.Value(), true
}

// Values returns all values of the field with the given var (nil when absent).
func (f *Form) Values(name string) []string {
	if fld := f.Field(name); fld != nil {
		return fld.Values
	}
	return nil
}

// Bool returns the XEP-0004 §3.3 boolean value of a field: "1" and "true"
// are true, "0", "false" and no value are false. ok is false when the field
// is absent; err is non-nil for any other lexical value.
func (f *Form) Bool(name string) (v, ok bool, err error) {
	fld := f.Field(name)
	if fld == nil {
		return false, false, nil
	}
	v, err = ParseBool(fld.Value())
	return v, true, err
}

// Int returns the value of a field parsed as a decimal integer. ok is false
// when the field is absent or has no value.
func (f *Form) Int(name string) (v int64, ok bool, err error) {
	s, found := f.Get(name)
	if !found || s == "" {
		return 0, false, nil
	}
	v, err = strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, true, &Error{Var: name, Msg: "not an integer: " + strconv.Quote(s)}
	}
	return v, true, nil
}

// JID returns the value of a jid-single field (XEP-0004 §3.3) parsed as a
// JID (RFC 7622). ok is false when the field is absent or has no value.
func (f *Form) JID(name string) (j jid.JID, ok bool, err error) {
	s, found := f.Get(name)
	if !found || s == "" {
		return jid.JID{}, false, nil
	}
	j, err = jid.Parse(s)
	if err != nil {
		return jid.JID{}, true, &Error{Var: name, Msg: "not a JID: " + err.Error()}
	}
	return j, true, nil
}

// JIDs returns the values of a jid-multi field (XEP-0004 §3.3) parsed as
// JIDs; the first invalid one is an error.
func (f *Form) JIDs(name string) ([]jid.JID, error) {
	vals := f.Values(name)
	out := make([]jid.JID, 0, len(vals))
	for _, v := range vals {
		j, err := jid.Parse(v)
		if err != nil {
			return nil, &Error{Var: name, Msg: "not a JID: " + err.Error()}
		}
		out = append(out, j)
	}
	return out, nil
}

// ParseBool parses a XEP-0004 boolean (xs:boolean: "0", "1", "false",
// "true"); the empty string is false.
func ParseBool(s string) (bool, error) {
	switch s {
	case "1", "true":
		return true, nil
	case "0", "false", "":
		return false, nil
	}
	return false, &Error{Msg: "invalid boolean " + strconv.Quote(s)}
}

// FormatBool returns the canonical XEP-0004 boolean value, "1" or "0".
func FormatBool(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// Error is a data form that breaks a XEP-0004 rule. The XMPP error for it is
// bad-request (RFC 6120 §8.3.3.1).
type Error struct {
	Var string // the field concerned, if any
	Msg string
}

func (e *Error) Error() string {
	if e.Var != "" {
		return "form: field " + strconv.Quote(e.Var) + ": " + e.Msg
	}
	return "form: " + e.Msg
}

// Validate checks the XEP-0004 rules that do not depend on the form's
// purpose: a known form type and field types, a var on every non-fixed
// field of a form, submit or result (§3.2), no duplicate vars, at most one
// value on single-valued fields, valid booleans, and item fields that are
// named in the reported set.
func (f *Form) Validate() error {
	switch f.Type {
	case TypeForm, TypeSubmit, TypeCancel, TypeResult:
	default:
		return &Error{Msg: "invalid form type " + strconv.Quote(string(f.Type))}
	}
	if err := validateFields(f.Fields, f.Type == TypeForm); err != nil {
		return err
	}
	if err := validateFields(f.Reported, true); err != nil {
		return err
	}
	if len(f.Items) > 0 && len(f.Reported) == 0 {
		return &Error{Msg: "items without a reported field set"}
	}
	for _, item := range f.Items {
		if err := validateFields(item, false); err != nil {
			return err
		}
		for _, fld := range item {
			if !slices.ContainsFunc(f.Reported, func(r Field) bool { return r.Var == fld.Var }) {
				return &Error{Var: fld.Var, Msg: "item field not in the reported set"}
			}
		}
	}
	return nil
}

// validateFields checks a list of fields. typed says a field without a type
// is text-single (XEP-0004 §3.2: so in a form of type "form" and in the
// reported set); in a submission or result a field need not repeat its
// type, so one without may carry several values (a jid-multi submitted
// without type='jid-multi').
func validateFields(fields []Field, typed bool) error {
	seen := make(map[string]struct{}, len(fields))
	for _, fld := range fields {
		if !fld.Type.known() {
			return &Error{Var: fld.Var, Msg: "unknown field type " + strconv.Quote(string(fld.Type))}
		}
		if fld.Var == "" {
			if fld.Type != Fixed {
				return &Error{Msg: "field without var"}
			}
			continue
		}
		if _, dup := seen[fld.Var]; dup {
			return &Error{Var: fld.Var, Msg: "duplicate field"}
		}
		seen[fld.Var] = struct{}{}
		if !fld.Type.multi() && (typed || fld.Type != "") && len(fld.Values) > 1 {
			return &Error{Var: fld.Var, Msg: fmt.Sprintf("%d values in a single-valued field", len(fld.Values))}
		}
		if fld.Type == Boolean {
			if _, err := ParseBool(fld.Value()); err != nil {
				return &Error{Var: fld.Var, Msg: err.(*Error).Msg}
			}
		}
	}
	return nil
}

// Parse decodes a standalone <x xmlns='jabber:x:data'/> element and
// validates it. It never panics; errors are *Error or the encoding/xml
// syntax error.
func Parse(b []byte) (*Form, error) {
	var f Form
	if err := xml.Unmarshal(b, &f); err != nil {
		return nil, err
	}
	if err := f.Validate(); err != nil {
		return nil, err
	}
	return &f, nil
}

// Wire shapes for encoding/xml.
type xmlOption struct {
	Label string `xml:"label,attr,omitempty"`
	Value string `xml:"value"`
}

type xmlField struct {
	Type     string      `xml:"type,attr,omitempty"`
	Var      string      `xml:"var,attr,omitempty"`
	Label    string      `xml:"label,attr,omitempty"`
	Desc     string      `xml:"desc,omitempty"`
	Required *struct{}   `xml:"required"`
	Values   []string    `xml:"value"`
	Options  []xmlOption `xml:"option"`
}

type xmlFields struct {
	Fields []xmlField `xml:"field"`
}

type xmlForm struct {
	XMLName      xml.Name    `xml:"jabber:x:data x"`
	Type         string      `xml:"type,attr"`
	Title        string      `xml:"title,omitempty"`
	Instructions []string    `xml:"instructions"`
	Reported     *xmlFields  `xml:"reported"`
	Items        []xmlFields `xml:"item"`
	Fields       []xmlField  `xml:"field"`
}

func toXMLFields(fields []Field) []xmlField {
	out := make([]xmlField, len(fields))
	for i, f := range fields {
		x := xmlField{Type: string(f.Type), Var: f.Var, Label: f.Label, Desc: f.Desc, Values: f.Values}
		if f.Required {
			x.Required = &struct{}{}
		}
		for _, o := range f.Options {
			x.Options = append(x.Options, xmlOption(o))
		}
		out[i] = x
	}
	return out
}

func fromXMLFields(xs []xmlField) []Field {
	if len(xs) == 0 {
		return nil
	}
	out := make([]Field, len(xs))
	for i, x := range xs {
		f := Field{Type: FieldType(x.Type), Var: x.Var, Label: x.Label, Desc: x.Desc, Required: x.Required != nil, Values: x.Values}
		for _, o := range x.Options {
			f.Options = append(f.Options, Option(o))
		}
		out[i] = f
	}
	return out
}

// MarshalXML encodes the form as <x xmlns='jabber:x:data'/> (XEP-0004 §3).
// The reported set and items come before the fields, as in the XEP's
// examples.
func (f Form) MarshalXML(e *xml.Encoder, _ xml.StartElement) error {
	x := xmlForm{Type: string(f.Type), Title: f.Title, Instructions: f.Instructions, Fields: toXMLFields(f.Fields)}
	if len(f.Reported) > 0 {
		x.Reported = &xmlFields{Fields: toXMLFields(f.Reported)}
	}
	for _, item := range f.Items {
		x.Items = append(x.Items, xmlFields{Fields: toXMLFields(item)})
	}
	return e.Encode(x)
}

// UnmarshalXML decodes a jabber:x:data <x/> element (XEP-0004 §3). It does
// not validate; call Validate or use Parse.
func (f *Form) UnmarshalXML(d *xml.Decoder, start xml.StartElement) error {
	if start.Name.Space != NS || start.Name.Local != "x" {
		return &Error{Msg: "not a {" + NS + "}x element: {" + start.Name.Space + "}" + start.Name.Local}
	}
	var x xmlForm
	if err := d.DecodeElement(&x, &start); err != nil {
		return err
	}
	*f = Form{Type: Type(x.Type), Title: x.Title, Instructions: x.Instructions, Fields: fromXMLFields(x.Fields)}
	if x.Reported != nil {
		f.Reported = fromXMLFields(x.Reported.Fields)
	}
	for _, it := range x.Items {
		f.Items = append(f.Items, fromXMLFields(it.Fields))
	}
	return nil
}
