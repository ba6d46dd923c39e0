package disco

import (
	"crypto/sha1"
	"encoding/base64"
	"encoding/xml"
	"slices"
	"strings"

	"xmppkit.dev/form"
	"xmppkit.dev/stanza"
)

// CapsError reports disco#info content from which XEP-0115 §5.4 forbids
// computing a verification string: duplicate identities, duplicate
// features, or two forms with the same FORM_TYPE.
type CapsError struct{ Msg string }

func (e *CapsError) Error() string { return "disco: entity capabilities: " + e.Msg }

// VerificationString builds the XEP-0115 §5.1 verification string of info:
//
//   - identities sorted by category, type, xml:lang and name, each written
//     category/type/lang/name followed by '<';
//   - features sorted, each followed by '<';
//   - XEP-0128 forms sorted by FORM_TYPE, each written as its FORM_TYPE and
//     '<', then its other fields sorted by var, each var followed by '<' and
//     its values, sorted, each followed by '<'.
//
// Strings are compared octet by octet (i;octet, RFC 4790) and written as
// character data, not XML-escaped: a value "a<b" contributes "a<b<". As
// XEP-0115 §5.4 says, a form whose FORM_TYPE field is not hidden, or which
// has none, is left out; duplicate identities or features, and two forms
// with one FORM_TYPE, are a *CapsError, as is a FORM_TYPE with differing
// values.
func VerificationString(info Info) (string, error) {
	ids := slices.Clone(info.Identities)
	slices.SortFunc(ids, compareIdentity)
	for i := 1; i < len(ids); i++ {
		if ids[i] == ids[i-1] {
			return "", &CapsError{"duplicate identity " + ids[i].Category + "/" + ids[i].Type}
		}
	}
	feats := slices.Clone(info.Features)
	slices.Sort(feats)
	for i := 1; i < len(feats); i++ {
		if feats[i] == feats[i-1] {
			return "", &CapsError{"duplicate feature " + feats[i]}
		}
	}
	type typed struct {
		formType string
		f        *form.Form
	}
	var forms []typed
	for i := range info.Forms {
		f := &info.Forms[i]
		ft := f.Field(form.FormTypeVar)
		if ft == nil || ft.Type != form.Hidden || len(ft.Values) == 0 {
			continue
		}
		for _, v := range ft.Values[1:] {
			if v != ft.Values[0] {
				return "", &CapsError{"FORM_TYPE with differing values"}
			}
		}
		forms = append(forms, typed{ft.Values[0], f})
	}
	slices.SortFunc(forms, func(a, b typed) int { return strings.Compare(a.formType, b.formType) })
	for i := 1; i < len(forms); i++ {
		if forms[i].formType == forms[i-1].formType {
			return "", &CapsError{"two forms with FORM_TYPE " + forms[i].formType}
		}
	}

	var b strings.Builder
	for _, id := range ids {
		b.WriteString(id.Category)
		b.WriteByte('/')
		b.WriteString(id.Type)
		b.WriteByte('/')
		b.WriteString(id.Lang)
		b.WriteByte('/')
		b.WriteString(id.Name)
		b.WriteByte('<')
	}
	for _, f := range feats {
		b.WriteString(f)
		b.WriteByte('<')
	}
	for _, t := range forms {
		b.WriteString(t.formType)
		b.WriteByte('<')
		fields := slices.Clone(t.f.Fields)
		slices.SortFunc(fields, func(a, b form.Field) int { return strings.Compare(a.Var, b.Var) })
		for _, fld := range fields {
			if fld.Var == form.FormTypeVar {
				continue
			}
			b.WriteString(fld.Var)
			b.WriteByte('<')
			vals := slices.Clone(fld.Values)
			slices.Sort(vals)
			for _, v := range vals {
				b.WriteString(v)
				b.WriteByte('<')
			}
		}
	}
	return b.String(), nil
}

// CapsHash returns the XEP-0115 §5.1 ver attribute of info: the base64 of
// the SHA-1 of its verification string (hash='sha-1', the algorithm every
// implementation supports).
func CapsHash(info Info) (string, error) {
	s, err := VerificationString(info)
	if err != nil {
		return "", err
	}
	sum := sha1.Sum([]byte(s))
	return base64.StdEncoding.EncodeToString(sum[:]), nil
}

// Caps returns the XEP-0115 §4 <c xmlns='http://jabber.org/protocol/caps'/>
// element to put in presence: hash='sha-1', the node (a URI naming the
// software), and ver computed from info. A Handler answers disco#info for
// "node#ver" with its own info (§6.2).
func Caps(node string, info Info) (stanza.Element, error) {
	ver, err := CapsHash(info)
	if err != nil {
		return stanza.Element{}, err
	}
	return stanza.MarshalElement(struct {
		XMLName xml.Name `xml:"http://jabber.org/protocol/caps c"`
		Hash    string   `xml:"hash,attr"`
		Node    string   `xml:"node,attr"`
		Ver     string   `xml:"ver,attr"`
	}{Hash: "sha-1", Node: node, Ver: ver})
}
