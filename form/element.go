package form

import (
	"xmppkit.dev/internal/elem"
	"xmppkit.dev/stanza"
)

// Element returns the form as its <x xmlns='jabber:x:data'/> element
// (XEP-0004 §3), written with the escaping stanza.Builder: the same
// element as MarshalXML gives, at a fraction of encoding/xml's cost, to put
// in a payload.
func (f *Form) Element() stanza.Element {
	b := stanza.NewBuilder(NS, "x").Attr("type", string(f.Type))
	b.OptTextElement("title", f.Title)
	for _, in := range f.Instructions {
		b.TextElement("instructions", in)
	}
	if len(f.Reported) > 0 {
		b.Child("", "reported")
		appendFields(b, f.Reported)
		b.End()
	}
	for _, item := range f.Items {
		b.Child("", "item")
		appendFields(b, item)
		b.End()
	}
	appendFields(b, f.Fields)
	return b.Element()
}

func appendFields(b *stanza.Builder, fields []Field) {
	for _, fld := range fields {
		b.Child("", "field").OptAttr("type", string(fld.Type)).OptAttr("var", fld.Var).OptAttr("label", fld.Label)
		b.OptTextElement("desc", fld.Desc)
		if fld.Required {
			b.Child("", "required").End()
		}
		for _, v := range fld.Values {
			b.TextElement("value", v)
		}
		for _, o := range fld.Options {
			b.Child("", "option").OptAttr("label", o.Label).TextElement("value", o.Value).End()
		}
		b.End()
	}
}

// Decode reads a standalone <x xmlns='jabber:x:data'/> element with the
// scanner and validates it, as Parse does with encoding/xml (children in
// other namespaces are ignored). It never panics; errors are *Error, or
// the scanner's for XML that is not well-formed.
func Decode(raw string) (*Form, error) {
	n, err := elem.Parse(raw, "")
	if err != nil {
		return nil, err
	}
	f, err := decodeNode(n)
	if err != nil {
		return nil, err
	}
	if err := f.Validate(); err != nil {
		return nil, err
	}
	return f, nil
}

// decodeNode reads the form element n without validating it.
func decodeNode(n *elem.Node) (*Form, error) {
	if n.Space != NS || n.Local != "x" {
		return nil, &Error{Msg: "not a {" + NS + "}x element: {" + n.Space + "}" + n.Local}
	}
	typ, _, err := n.Attr("type")
	if err != nil {
		return nil, &Error{Msg: "unreadable type"}
	}
	f := &Form{Type: Type(typ)}
	for _, k := range n.Kids {
		if k.Space != NS {
			continue
		}
		c, err := n.Child(k)
		if err != nil {
			return nil, err
		}
		switch k.Local {
		case "title":
			if f.Title, err = c.Text(); err != nil {
				return nil, err
			}
		case "instructions":
			t, err := c.Text()
			if err != nil {
				return nil, err
			}
			f.Instructions = append(f.Instructions, t)
		case "reported":
			fields, err := decodeFields(c)
			if err != nil {
				return nil, err
			}
			f.Reported = fields // as encoding/xml: the last <reported/> counts
		case "item":
			fields, err := decodeFields(c)
			if err != nil {
				return nil, err
			}
			f.Items = append(f.Items, fields)
		case "field":
			fld, err := decodeField(c)
			if err != nil {
				return nil, err
			}
			f.Fields = append(f.Fields, fld)
		}
	}
	return f, nil
}

func decodeFields(n *elem.Node) ([]Field, error) {
	var out []Field
	for _, k := range n.Kids {
		if k.Space != NS || k.Local != "field" {
			continue
		}
		c, err := n.Child(k)
		if err != nil {
			return nil, err
		}
		fld, err := decodeField(c)
		if err != nil {
			return nil, err
		}
		out = append(out, fld)
	}
	return out, nil
}

func decodeField(n *elem.Node) (Field, error) {
	var fld Field
	var typ string
	var err error
	for _, a := range []struct {
		name string
		dst  *string
	}{{"type", &typ}, {"var", &fld.Var}, {"label", &fld.Label}} {
		if *a.dst, _, err = n.Attr(a.name); err != nil {
			return Field{}, &Error{Msg: "unreadable field attribute " + a.name}
		}
	}
	fld.Type = FieldType(typ)
	for _, k := range n.Kids {
		if k.Space != NS {
			continue
		}
		c, err := n.Child(k)
		if err != nil {
			return Field{}, err
		}
		switch k.Local {
		case "desc":
			if fld.Desc, err = c.Text(); err != nil {
				return Field{}, err
			}
		case "required":
			fld.Required = true
		case "value":
			v, err := c.Text()
			if err != nil {
				return Field{}, err
			}
			fld.Values = append(fld.Values, v)
		case "option":
			var o Option
			if o.Label, _, err = c.Attr("label"); err != nil {
				return Field{}, &Error{Var: fld.Var, Msg: "unreadable option label"}
			}
			for _, vk := range c.Kids {
				if vk.Space != NS || vk.Local != "value" {
					continue
				}
				vc, err := c.Child(vk)
				if err != nil {
					return Field{}, err
				}
				if o.Value, err = vc.Text(); err != nil {
					return Field{}, err
				}
			}
			fld.Options = append(fld.Options, o)
		}
	}
	return fld, nil
}
