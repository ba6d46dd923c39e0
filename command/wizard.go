package command

import (
	"context"
	"slices"

	"xmppkit.dev/form"
	"xmppkit.dev/jid"
)

// Wizard is a Handler for a command of several stages (XEP-0050 §2.4.2):
// each stage shows a form; next submits it and moves on, prev goes back
// to the stage before with the values given there (§2.4.2, note 2), and
// complete on the last stage submits it and runs Done with every stage's
// submission. The <actions/> of each stage are filled in: next (the
// default) or, on the last stage, complete, and prev after the first.
//
// Each submission is checked against the form shown (CheckSubmission)
// and then by the stage's Check before it is kept, so Done sees only valid
// forms. A Wizard holds no state of its own: a session's progress lives in
// its Session.Data, so one Wizard serves any number of sessions.
type Wizard struct {
	Steps []Step
	// Done runs when the last stage is submitted; forms[i] is what stage
	// i received. Its response ends the session (Done or Result), or may
	// ask for more with a further executing stage of its own.
	Done func(ctx context.Context, r *Request, forms []*form.Form) (*Response, error)
}

// Step is one stage of a Wizard.
type Step struct {
	// Form is the form the stage shows, when it does not depend on what
	// came before.
	Form form.Form
	// Build, when set, makes the stage's form instead, from the earlier
	// stages' submissions (forms[:i] for stage i), for a wizard whose
	// later forms depend on the earlier answers.
	Build func(ctx context.Context, r *Request, forms []*form.Form) (form.Form, error)
	// Check validates a submission beyond what the form declares (its
	// field types, options and required fields, which are checked first);
	// its error is answered as is, BadPayload("...") being the usual one,
	// and the stage stays open for another try.
	Check func(ctx context.Context, r *Request, f *form.Form) error
}

type wizardState struct {
	stage int
	forms []*form.Form
	shown []form.Form
}

// Execute implements Handler.
func (w *Wizard) Execute(ctx context.Context, r *Request) (*Response, error) {
	if len(w.Steps) == 0 {
		if w.Done == nil {
			return Done(), nil
		}
		return w.Done(ctx, r, nil)
	}
	st, _ := r.Session.Data.(*wizardState)
	if st == nil {
		st = &wizardState{forms: make([]*form.Form, len(w.Steps)), shown: make([]form.Form, len(w.Steps))}
		r.Session.Data = st
		return w.show(ctx, r, st, 0)
	}
	switch r.Action {
	case ActionPrev:
		if st.stage == 0 {
			return nil, ErrBadAction.with("no stage before the first")
		}
		return w.show(ctx, r, st, st.stage-1)
	case ActionNext, ActionComplete:
		sub := r.Form
		if sub == nil {
			sub = &form.Form{Type: form.TypeSubmit}
		}
		if err := CheckSubmission(&st.shown[st.stage], sub); err != nil {
			return nil, err
		}
		if c := w.Steps[st.stage].Check; c != nil {
			if err := c(ctx, r, sub); err != nil {
				return nil, err
			}
		}
		st.forms[st.stage] = sub
		last := st.stage == len(w.Steps)-1
		if r.Action == ActionComplete || last {
			if w.Done == nil {
				return Done(), nil
			}
			return w.Done(ctx, r, st.forms[:st.stage+1])
		}
		return w.show(ctx, r, st, st.stage+1)
	}
	return nil, ErrBadAction.with("unexpected action " + string(r.Action))
}

// show answers with stage i's form.
func (w *Wizard) show(ctx context.Context, r *Request, st *wizardState, i int) (*Response, error) {
	step := w.Steps[i]
	f := step.Form
	if step.Build != nil {
		var err error
		if f, err = step.Build(ctx, r, st.forms[:i]); err != nil {
			return nil, err
		}
	}
	f.Fields = slices.Clone(f.Fields)
	if f.Type == "" {
		f.Type = form.TypeForm
	}
	if prev := st.forms[i]; prev != nil {
		// Remembered values (§2.4.2: optional, and kind).
		for j := range f.Fields {
			if v := prev.Field(f.Fields[j].Var); v != nil && f.Fields[j].Type != form.Fixed && f.Fields[j].Var != form.FormTypeVar {
				f.Fields[j].Values = slices.Clone(v.Values)
			}
		}
	}
	st.stage = i
	st.shown[i] = f
	var actions []Action
	if i > 0 {
		actions = append(actions, ActionPrev)
	}
	if i < len(w.Steps)-1 {
		actions = append(actions, ActionNext)
	} else {
		actions = append(actions, ActionComplete)
	}
	return &Response{Status: Executing, Form: &f, Actions: actions}, nil
}

// CheckSubmission checks a submitted form against the form that was shown
// (XEP-0004 §3.3, XEP-0050 §3.5.1): of type submit (a cancel form counts as
// submit), the same FORM_TYPE, a value for every required field, at most
// one value for single-valued fields, JIDs in jid fields, booleans in
// boolean fields, and list values among the options offered. Fields the
// form did not show are ignored. The error is bad-payload (an *Error) with
// a text naming the field.
func CheckSubmission(shown, sub *form.Form) error {
	if sub.Type != form.TypeSubmit && sub.Type != form.TypeCancel {
		return BadPayload("the form must be of type submit, not " + string(sub.Type))
	}
	if ft := shown.FormType(); ft != "" {
		if got, ok := sub.Get(form.FormTypeVar); ok && got != ft {
			return BadPayload("FORM_TYPE " + got + " does not match " + ft)
		}
	}
	for _, f := range shown.Fields {
		if f.Var == "" || f.Var == form.FormTypeVar || f.Type == form.Fixed {
			continue
		}
		s := sub.Field(f.Var)
		var vals []string
		if s != nil {
			vals = s.Values
		}
		label := f.Label
		if label == "" {
			label = f.Var
		}
		if f.Required && (len(vals) == 0 || (len(vals) == 1 && vals[0] == "" && f.Type != form.TextMulti)) {
			return BadPayload(label + " is required")
		}
		switch f.Type {
		case "", form.TextSingle, form.TextPrivate, form.Boolean, form.JIDSingle, form.ListSingle, form.Hidden:
			if len(vals) > 1 {
				return BadPayload(label + " takes one value")
			}
		}
		for _, v := range vals {
			switch f.Type {
			case form.Boolean:
				if _, err := form.ParseBool(v); err != nil {
					return BadPayload(label + " must be true or false")
				}
			case form.JIDSingle, form.JIDMulti:
				if v == "" && !f.Required {
					continue
				}
				if _, err := jid.Parse(v); err != nil {
					return BadPayload(label + ": " + v + " is not a JID")
				}
			case form.ListSingle, form.ListMulti:
				if len(f.Options) > 0 && !slices.ContainsFunc(f.Options, func(o form.Option) bool { return o.Value == v }) {
					if v == "" && !f.Required {
						continue
					}
					return BadPayload(label + ": " + v + " is not one of the options")
				}
			}
		}
	}
	return nil
}
