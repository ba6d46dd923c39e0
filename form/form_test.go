package form

import (
	"encoding/xml"
	"errors"
	"reflect"
	"strings"
	"testing"
)

const sample = `<x xmlns='jabber:x:data' type='form'>
  <title>Bot Configuration</title>
  <instructions>Fill out this form to configure your new bot!</instructions>
  <field type='hidden' var='FORM_TYPE'><value>jabber:bot</value></field>
  <field type='fixed'><value>Section 1: Bot Info</value></field>
  <field type='text-single' label='The name of your bot' var='botname'/>
  <field type='text-multi' label='Helpful description of your bot' var='description'><value>a</value><value>b</value></field>
  <field type='boolean' label='Public bot?' var='public'><required/><value>true</value></field>
  <field type='list-single' label='Maximum number of subscribers' var='maxsubs'>
    <desc>How many?</desc>
    <value>20</value>
    <option label='10'><value>10</value></option>
    <option label='20'><value>20</value></option>
  </field>
  <field type='jid-multi' var='invitelist'><value>a@example.org</value><value>b@example.org</value></field>
</x>`

func TestParseSample(t *testing.T) {
	f, err := Parse([]byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	if f.Type != TypeForm || f.Title != "Bot Configuration" || len(f.Instructions) != 1 {
		t.Errorf("header: %+v", f)
	}
	if got := f.FormType(); got != "jabber:bot" {
		t.Errorf("FormType = %q", got)
	}
	if len(f.Fields) != 7 {
		t.Fatalf("%d fields", len(f.Fields))
	}
	pub, ok, err := f.Bool("public")
	if !pub || !ok || err != nil {
		t.Errorf("Bool(public) = %v %v %v", pub, ok, err)
	}
	if !f.Field("public").Required {
		t.Error("public not required")
	}
	n, ok, err := f.Int("maxsubs")
	if n != 20 || !ok || err != nil {
		t.Errorf("Int(maxsubs) = %v %v %v", n, ok, err)
	}
	ms := f.Field("maxsubs")
	if ms.Desc != "How many?" || !reflect.DeepEqual(ms.Options, []Option{{"10", "10"}, {"20", "20"}}) {
		t.Errorf("maxsubs = %+v", ms)
	}
	if got := f.Values("invitelist"); !reflect.DeepEqual(got, []string{"a@example.org", "b@example.org"}) {
		t.Errorf("invitelist = %v", got)
	}
	if _, ok := f.Get("nope"); ok {
		t.Error("Get(nope) found")
	}
	if _, ok, _ := f.Bool("nope"); ok {
		t.Error("Bool(nope) found")
	}
	if _, ok, _ := f.Int("botname"); ok {
		t.Error("Int(botname) with no value reported ok")
	}
	if _, _, err := f.Int("description"); err == nil {
		t.Error("Int(description) no error")
	}

	jids, err := f.JIDs("invitelist")
	if err != nil || len(jids) != 2 || jids[1].String() != "b@example.org" {
		t.Errorf("JIDs(invitelist) = %v, %v", jids, err)
	}
	if _, ok, _ := f.JID("botname"); ok {
		t.Error("JID(botname) without value reported ok")
	}
	h := Form{Type: TypeSubmit}
	h.Set(JIDSingle, "owner", "juliet@capulet.lit")
	h.Set(JIDSingle, "bad", "@nope")
	h.Set(JIDMulti, "bads", "a@b", "@nope")
	if j, ok, err := h.JID("owner"); !ok || err != nil || j.Local() != "juliet" {
		t.Errorf("JID(owner) = %v %v %v", j, ok, err)
	}
	var fe *Error
	if _, _, err := h.JID("bad"); !errors.As(err, &fe) || fe.Var != "bad" {
		t.Errorf("JID(bad) error %v", err)
	}
	if _, err := h.JIDs("bads"); !errors.As(err, &fe) {
		t.Errorf("JIDs(bads) error %v", err)
	}

	// Round trip through MarshalXML.
	out, err := xml.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	g, err := Parse(out)
	if err != nil {
		t.Fatalf("reparse %s: %v", out, err)
	}
	if !reflect.DeepEqual(f, g) {
		t.Errorf("round trip differs:\n%+v\n%+v", f, g)
	}
}

func TestReportedItems(t *testing.T) {
	f := &Form{
		Type:     TypeResult,
		Reported: []Field{{Var: "name", Label: "Name"}, {Var: "url", Label: "URL"}},
		Items: [][]Field{
			{{Var: "name", Values: []string{"Comune di Verona"}}, {Var: "url", Values: []string{"http://www.comune.verona.it/"}}},
			{{Var: "name", Values: []string{"Benvenuto"}}},
		},
	}
	out, err := xml.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "<reported><field var=\"name\" label=\"Name\"></field>") {
		t.Errorf("marshal: %s", out)
	}
	g, err := Parse(out)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(f, g) {
		t.Errorf("round trip:\n%+v\n%+v", f, g)
	}
}

func TestSet(t *testing.T) {
	var f Form
	f.Type = TypeSubmit
	f.Set(Hidden, FormTypeVar, "urn:example")
	f.Set(Boolean, "on", FormatBool(true))
	f.Set(Boolean, "on", FormatBool(false))
	if v, _, _ := f.Bool("on"); v || len(f.Fields) != 2 || f.FormType() != "urn:example" {
		t.Errorf("Set: %+v", f)
	}
	if err := f.Validate(); err != nil {
		t.Error(err)
	}
}

// In a submission a field need not carry its type (XEP-0004 §3.2), so a
// typeless field may have several values: XEP-0133's announcement is a
// text-multi submitted as <field var='announcement'> with three values.
func TestUntypedSubmission(t *testing.T) {
	f, err := Parse([]byte(`<x xmlns='jabber:x:data' type='submit'><field var='announcement'><value>one</value><value>two</value><value>three</value></field></x>`))
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Values("announcement"); len(got) != 3 {
		t.Fatalf("values %v", got)
	}
}

func TestInvalid(t *testing.T) {
	tests := map[string]string{
		"bad form type":     `<x xmlns='jabber:x:data' type='wat'/>`,
		"no type":           `<x xmlns='jabber:x:data'/>`,
		"wrong namespace":   `<x xmlns='jabber:x:date' type='form'/>`,
		"wrong element":     `<y xmlns='jabber:x:data' type='form'/>`,
		"field type":        `<x xmlns='jabber:x:data' type='form'><field var='a' type='colour'/></x>`,
		"no var":            `<x xmlns='jabber:x:data' type='form'><field type='text-single'/></x>`,
		"duplicate":         `<x xmlns='jabber:x:data' type='form'><field var='a'/><field var='a'/></x>`,
		"two values single": `<x xmlns='jabber:x:data' type='form'><field var='a'><value>1</value><value>2</value></field></x>`,
		"typed two values":  `<x xmlns='jabber:x:data' type='submit'><field var='a' type='jid-single'><value>a@b</value><value>c@d</value></field></x>`,
		"bad boolean":       `<x xmlns='jabber:x:data' type='submit'><field var='a' type='boolean'><value>yes</value></field></x>`,
		"items no reported": `<x xmlns='jabber:x:data' type='result'><item><field var='a'/></item></x>`,
		"item not reported": `<x xmlns='jabber:x:data' type='result'><reported><field var='a'/></reported><item><field var='b'/></item></x>`,
		"malformed":         `<x xmlns='jabber:x:data' type='form'><field>`,
	}
	for name, in := range tests {
		_, err := Parse([]byte(in))
		if err == nil {
			t.Errorf("%s: no error", name)
			continue
		}
		var fe *Error
		var se *xml.SyntaxError
		if !errors.As(err, &fe) && !errors.As(err, &se) {
			t.Errorf("%s: error %T %v", name, err, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(sample))
	f.Add([]byte(`<x xmlns='jabber:x:data' type='result'><reported><field var='a'/></reported><item><field var='a'><value>1</value></field></item></x>`))
	f.Add([]byte(`<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>urn:x</value></field></x>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		form, err := Parse(b)
		if err != nil {
			return
		}
		// A valid form re-encodes into a valid form with the same content.
		out, err := xml.Marshal(form)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		again, err := Parse(out)
		if err != nil {
			t.Fatalf("reparse of %s: %v", out, err)
		}
		if again.Type != form.Type || len(again.Fields) != len(form.Fields) || len(again.Items) != len(form.Items) {
			t.Fatalf("round trip changed the form:\n%+v\n%+v", form, again)
		}
	})
}

func TestElementAndDecode(t *testing.T) {
	f := &Form{
		Type: TypeForm, Title: "Bot <Configuration>", Instructions: []string{"Fill out", "this & that"},
		Fields: []Field{
			{Type: Hidden, Var: FormTypeVar, Values: []string{"jabber:bot"}},
			{Type: Fixed, Values: []string{"Section 1"}},
			{Type: ListMulti, Var: "features", Label: "Features?", Desc: "pick", Required: true,
				Options: []Option{{Label: "News", Value: "news"}, {Value: "polls"}}, Values: []string{"news"}},
		},
	}
	el := f.Element()
	want, err := xml.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	// The same form as encoding/xml writes, read back by both decoders.
	g1, err := Parse(want)
	if err != nil {
		t.Fatal(err)
	}
	g2, err := Decode(el.XML())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g1, f) || !reflect.DeepEqual(g2, f) {
		t.Fatalf("round trips differ:\n%+v\n%+v\n%+v", f, g1, g2)
	}
	r := &Form{Type: TypeResult, Reported: []Field{{Var: "a", Label: "A"}}, Items: [][]Field{{{Var: "a", Values: []string{"1"}}}, {{Var: "a"}}}}
	g3, err := Decode(r.Element().XML())
	if err != nil || !reflect.DeepEqual(g3, r) {
		t.Fatalf("result form: %+v %v", g3, err)
	}
	if _, err := Decode(`<x xmlns='jabber:x:data' type='wat'/>`); err == nil {
		t.Fatal("invalid form decoded")
	}
	if _, err := Decode(`<y xmlns='jabber:x:data' type='form'/>`); err == nil {
		t.Fatal("not a form decoded")
	}
}

// FuzzDecode checks the scanner decoder against encoding/xml's.
func FuzzDecode(f *testing.F) {
	f.Add(sample)
	f.Add(`<x xmlns='jabber:x:data' type='result'><reported><field var='a'/></reported><item><field var='a'><value>1</value></field></item></x>`)
	f.Add(`<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>urn:x</value></field></x>`)
	f.Fuzz(func(t *testing.T, raw string) {
		d, derr := Decode(raw)
		p, perr := Parse([]byte(raw))
		if derr != nil {
			return // Decode may be stricter (the scanner refuses what XMPP refuses)
		}
		if perr == nil && !strings.Contains(raw, ":") && !reflect.DeepEqual(d, p) {
			t.Fatalf("Decode and Parse differ on %q:\n%+v\n%+v", raw, d, p)
		}
		// What Decode reads re-encodes into the same form.
		again, err := Decode(d.Element().XML())
		if err != nil || !reflect.DeepEqual(again, d) {
			t.Fatalf("round trip of %+v: %+v, %v", d, again, err)
		}
	})
}
