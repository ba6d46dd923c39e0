package settings

import (
	"context"
	"strings"

	"xmppkit.dev/command"
	"xmppkit.dev/form"
)

// Field is one setting of a Schema, shown as a XEP-0004 field.
type Field struct {
	Var     string
	Label   string
	Desc    string
	Type    form.FieldType // form.TextSingle, TextPrivate, TextMulti, Boolean, ListSingle
	Options []form.Option  // for ListSingle
	// Secret values are sealed on disk and never shown back: the form
	// shows them empty, an empty submission keeps the value, and "-"
	// clears it.
	Secret bool
	// Check validates a submitted value ("" included); its error is shown
	// to the user (a command.BadPayload is the usual one).
	Check func(v string) error
}

// Schema is the form of one kind of scope.
type Schema struct {
	Title        string
	Instructions string
	Fields       []Field
}

// Secrets returns a Secret func for Options that seals the secret fields of
// the schemas.
func Secrets(schemas ...Schema) func(key string) bool {
	keys := map[string]bool{}
	for _, s := range schemas {
		for _, f := range s.Fields {
			if f.Secret {
				keys[f.Var] = true
			}
		}
	}
	return func(k string) bool { return keys[k] }
}

// Form returns the schema's form filled with v.
func (sc Schema) Form(v Values) *form.Form {
	f := &form.Form{Type: form.TypeForm, Title: sc.Title}
	if sc.Instructions != "" {
		f.Instructions = []string{sc.Instructions}
	}
	for _, fd := range sc.Fields {
		fl := form.Field{Type: fd.Type, Var: fd.Var, Label: fd.Label, Desc: fd.Desc, Options: fd.Options}
		val := v[fd.Var]
		switch {
		case fd.Secret:
			if val != "" {
				fl.Label += " (set; empty keeps it, - clears it)"
			}
		case fd.Type == form.TextMulti:
			fl.Values = strings.Split(val, "\n")
			if val == "" {
				fl.Values = nil
			}
		case val != "":
			fl.Values = []string{val}
		}
		f.Fields = append(f.Fields, fl)
	}
	return f
}

// Apply merges a submitted form into old and returns the new values, or
// the first field's Check error.
func (sc Schema) Apply(old Values, sub *form.Form) (Values, error) {
	nv := Values{}
	for k, v := range old {
		nv[k] = v
	}
	for _, fd := range sc.Fields {
		fl := sub.Field(fd.Var)
		if fl == nil {
			continue
		}
		val := strings.Join(fl.Values, "\n")
		if fd.Type != form.TextMulti {
			val = strings.TrimSpace(fl.Value())
		}
		if fd.Type == form.Boolean && val != "" {
			b, err := form.ParseBool(val)
			if err != nil {
				return nil, command.BadPayload(fd.Label + ": not a boolean")
			}
			val = form.FormatBool(b)
		}
		if fd.Secret {
			switch val {
			case "":
				continue
			case "-":
				val = ""
			}
		}
		if fd.Check != nil {
			if err := fd.Check(val); err != nil {
				return nil, err
			}
		}
		nv[fd.Var] = val
	}
	return nv, nil
}

// Target names the scope a command request configures, or refuses it
// (a *stanza.Error such as forbidden or item-not-found).
type Target func(r *command.Request) (user, scope string, err error)

// Command returns a one-stage XEP-0050 command (a single-stage dialog,
// §3.4) that shows the schema's form with the scope's current values and
// stores what is submitted (a form of type submit or, §3.5.1, cancel);
// changed, when set, is told afterwards.
func (s *Store) Command(sc Schema, target Target, changed func(user, scope string, v Values)) command.Handler {
	return command.HandlerFunc(func(ctx context.Context, r *command.Request) (*command.Response, error) {
		user, scope, err := target(r)
		if err != nil {
			return nil, err
		}
		old := s.Get(user, scope)
		if r.Form == nil {
			return command.Ask(sc.Form(old)), nil
		}
		// A form of type cancel is a submission like any other (XEP-0050
		// §3.5.1: responders SHOULD consider <x type='cancel'/> to be
		// type submit); canceling is the command's action='cancel', which
		// the command.Registry answers without calling the handler.
		nv, err := sc.Apply(old, r.Form)
		if err != nil {
			return nil, err
		}
		if err := s.Put(user, scope, nv); err != nil {
			return command.Done(command.ErrorNote("the settings could not be stored: " + err.Error())), nil
		}
		if changed != nil {
			changed(user, scope, s.Get(user, scope))
		}
		return command.Done(command.InfoNote("Saved.")), nil
	})
}
